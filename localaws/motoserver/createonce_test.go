package motoserver

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
)

// iamError is IAM's error document (the query protocol's ErrorResponse).
func iamError(code, message string) string {
	return `<ErrorResponse><Error><Type>Sender</Type><Code>` + code + `</Code><Message>` + message + `</Message></Error><RequestId>r</RequestId></ErrorResponse>`
}

func TestCreateOnceTellsALostAnswerFromAConflict(t *testing.T) {
	tests := []struct {
		name    string
		answers []int // status of each attempt: 500 (the entity was made, the answer lost), 409
		want    bool
		why     string
	}{
		{"resent after a 500: the first attempt made it", []int{500, 409}, true, "StatusCode: 500"},
		{"EntityAlreadyExists at the first attempt: a real conflict", []int{409}, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var n atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				status := tt.answers[min(int(n.Add(1))-1, len(tt.answers)-1)]
				w.WriteHeader(status)
				if status == 500 {
					w.Write([]byte(iamError("InternalFailure", "the answer was lost")))
					return
				}
				w.Write([]byte(iamError("EntityAlreadyExists", "Role with name r already exists.")))
			}))
			defer srv.Close()
			resent, err := CreateOnce(func(opt func(*iam.Options)) error {
				_, err := iam.NewFromConfig(Config(srv.URL, aws.Credentials{AccessKeyID: "AKIA", SecretAccessKey: "s"})).CreateRole(context.Background(),
					&iam.CreateRoleInput{RoleName: aws.String("r"), AssumeRolePolicyDocument: aws.String("{}")}, opt)
				return err
			})
			if got := err == nil; got != tt.want || int(n.Load()) != len(tt.answers) || err != nil && !strings.Contains(err.Error(), "EntityAlreadyExists") {
				t.Errorf("CreateOnce took the create as made: %v (%v) after %d requests, want %v after %d", got, err, n.Load(), tt.want, len(tt.answers))
			}
			if !strings.Contains(resent, tt.why) || tt.why == "" && resent != "" {
				t.Errorf("resent = %q, want it to name %q", resent, tt.why)
			}
		})
	}
}
