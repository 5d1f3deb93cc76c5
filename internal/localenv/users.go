package localenv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/keyrotor/keyrotor/internal/rotation"
	"github.com/keyrotor/keyrotor/localaws/motoserver"
)

// ManagedUser describes a user CreateManagedUser makes.
type ManagedUser struct {
	Name string
	// Keys is how many access keys the user gets before any rotation (0-2).
	Keys int
	// Parameter, if set, receives the first key as a previous rotation would have stored it
	// (SecureString with the engine's key, JSON value, description "keyrotor:<id>").
	Parameter string
	// Unmanaged leaves off the keyrotor:managed=true tag.
	Unmanaged bool
	// Account is the member account the user is made in ("": the engine's own); its
	// parameter is then encrypted with the member's key.
	Account string
	// Path is the user's IAM path ("": /).
	Path string
}

// CreateManagedUser creates the user as the administrator (through the proxy) and returns the
// ids of its keys. The secrets of those keys are used only to seed the parameter and dropped.
func (e *Env) CreateManagedUser(ctx context.Context, u ManagedUser) ([]string, error) {
	if u.Keys < 0 || u.Keys > 2 {
		return nil, fmt.Errorf("create user %s: IAM allows 0-2 access keys, not %d", u.Name, u.Keys)
	}
	if u.Parameter != "" && u.Keys == 0 {
		return nil, fmt.Errorf("create user %s: a seeded parameter needs a key (Keys ≥ 1)", u.Name)
	}
	cfg, err := e.AccountConfig(u.Account)
	if err != nil {
		return nil, err
	}
	kmsKey := e.KMSKeyARN
	if m := e.Member(u.Account); m != nil {
		kmsKey = m.KMSKeyARN
	}
	iamc := iam.NewFromConfig(cfg)
	in := &iam.CreateUserInput{UserName: aws.String(u.Name)}
	if u.Path != "" {
		in.Path = aws.String(u.Path)
	}
	if !u.Unmanaged {
		in.Tags = []iamtypes.Tag{{Key: aws.String(rotation.ManagedTagKey), Value: aws.String(rotation.ManagedTagValue)}}
	}
	resent, err := motoserver.CreateOnce(func(opt func(*iam.Options)) error {
		_, err := iamc.CreateUser(ctx, in, opt)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("create user %s: %w", u.Name, err)
	}
	if resent != "" {
		e.log.Warn("local engine: CreateUser was sent again; its first attempt made the user", "user", u.Name, "attempts", resent)
	}
	var ids []string
	for i := range u.Keys {
		out, err := iamc.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(u.Name)})
		if err != nil {
			return nil, fmt.Errorf("create access key of %s: %w", u.Name, err)
		}
		id := aws.ToString(out.AccessKey.AccessKeyId)
		ids = append(ids, id)
		if i == 0 && u.Parameter != "" {
			value, _ := json.Marshal(map[string]string{"AccessKeyId": id, "SecretAccessKey": aws.ToString(out.AccessKey.SecretAccessKey)})
			if _, err := ssm.NewFromConfig(cfg).PutParameter(ctx, &ssm.PutParameterInput{
				Name: aws.String(u.Parameter), Value: aws.String(string(value)), Type: ssmtypes.ParameterTypeSecureString,
				KeyId: aws.String(kmsKey), Description: aws.String(rotation.DescriptionPrefix + id), Overwrite: aws.Bool(true),
			}); err != nil {
				return nil, fmt.Errorf("seed parameter %s: %w", u.Parameter, err)
			}
		}
	}
	return ids, nil
}

// UserExists says whether the IAM user exists.
func (e *Env) UserExists(ctx context.Context, name string) (bool, error) {
	return e.UserExistsIn(ctx, "", name)
}

// UserExistsIn says whether the IAM user exists in account ("": the engine's own).
func (e *Env) UserExistsIn(ctx context.Context, account, name string) (bool, error) {
	cfg, err := e.AccountConfig(account)
	if err != nil {
		return false, err
	}
	_, err = iam.NewFromConfig(cfg).GetUser(ctx, &iam.GetUserInput{UserName: aws.String(name)})
	var noUser *iamtypes.NoSuchEntityException
	if errors.As(err, &noUser) {
		return false, nil
	}
	return err == nil, err
}
