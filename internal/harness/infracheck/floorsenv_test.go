package infracheck

import (
	"slices"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/keyrotor/keyrotor/internal/rotation"
)

// floorActions are the steps that hold the engine's floors: begin refuses shorter waits,
// deactivate and delete measure them in the execution's history (internal/rotation).
var floorActions = []string{"begin", "deactivate", "delete"}

// Every function serving a step that holds the floors gets the engine's min_grace_seconds and
// min_inactive_seconds: unset, a function falls back to the defaults (1800 s, 3600 s), so with
// lowered floors (make aws-acceptance's 65 s and 0 s) deleteoldkeys refused every deactivate
// that createkey's floors had let through.
func TestEveryFunctionHoldingTheFloorsGetsTheEngines(t *testing.T) {
	_, mods := load(t)
	locals := mods[engineDir].Find("locals")
	var functions *hclsyntax.ObjectConsExpr
	for _, b := range locals {
		if a, ok := b.Body.Attributes["functions"]; ok {
			functions, _ = a.Expr.(*hclsyntax.ObjectConsExpr)
		}
	}
	if functions == nil {
		t.Fatal("the engine declares no locals.functions object")
	}
	for _, fn := range rotation.Functions() {
		if !slices.ContainsFunc(fn.Actions, func(a string) bool { return slices.Contains(floorActions, a) }) {
			continue
		}
		env := map[string]string{}
		if f := item(functions, fn.Name); f != nil {
			e := item(f, "environment")
			if ref, ok := e.(*hclsyntax.ScopeTraversalExpr); ok && len(ref.Traversal) == 2 && ref.Traversal.RootName() == "local" {
				e, _ = mods[engineDir].Local(ref.Traversal[1].(hcl.TraverseAttr).Name) // environment = local.<name>
			}
			if e, ok := e.(*hclsyntax.ObjectConsExpr); ok {
				for _, it := range e.Items {
					env[keyName(it.KeyExpr)] = mods[engineDir].Text(it.ValueExpr.Range())
				}
			}
		}
		for v, want := range map[string]string{rotation.EnvMinGraceSeconds: "tostring(var.min_grace_seconds)", rotation.EnvMinInactiveSeconds: "tostring(var.min_inactive_seconds)"} {
			if env[v] != want {
				t.Errorf("function %s (actions %v) has %s = %q, want %s", fn.Name, fn.Actions, v, env[v], want)
			}
		}
	}
}

// item is the value of key in an object constructor, as an object constructor when it is one.
func item(o hclsyntax.Expression, key string) hclsyntax.Expression {
	obj, ok := o.(*hclsyntax.ObjectConsExpr)
	if !ok {
		return nil
	}
	for _, it := range obj.Items {
		if keyName(it.KeyExpr) == key {
			return it.ValueExpr
		}
	}
	return nil
}

// keyName is an object key's literal name (a bare word or a string).
func keyName(e hclsyntax.Expression) string {
	if k, ok := e.(*hclsyntax.ObjectConsKeyExpr); ok {
		if name := hcl.ExprAsKeyword(k.Wrapped); name != "" {
			return name
		}
		if v, diags := k.Wrapped.Value(nil); !diags.HasErrors() && v.Type().FriendlyName() == "string" {
			return v.AsString()
		}
	}
	return ""
}
