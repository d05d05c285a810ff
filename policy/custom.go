package policy

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/ext"
)

// Custom rules are CEL (Common Expression Language) expressions. CEL is
// side-effect free, not Turing complete, type-checked ahead of time and
// bounded by a cost limit, which is what a rule written by a Society's data
// protection officer and run on every forward needs.

// celCostLimit bounds the work one custom rule may do on one document.
const celCostLimit = 1_000_000

// maxExprLen bounds the size of a when expression.
const maxExprLen = 4096

var (
	celEnvOnce sync.Once
	celEnv     *cel.Env
	celEnvErr  error
)

// destinationFields and sourceFields are the keys of the destination and
// source maps given to custom rules.
var (
	destinationFields = []string{"member", "country", "role", "active", "accepts"}
	sourceFields      = []string{"member", "country"}
)

func env() (*cel.Env, error) {
	celEnvOnce.Do(func() {
		celEnv, celEnvErr = cel.NewEnv(
			cel.Variable("case", cel.MapType(cel.StringType, cel.DynType)),
			cel.Variable("destination", cel.MapType(cel.StringType, cel.DynType)),
			cel.Variable("source", cel.MapType(cel.StringType, cel.DynType)),
			cel.Variable("kind", cel.StringType),
			cel.Variable("now", cel.TimestampType),
			cel.CrossTypeNumericComparisons(true),
			cel.ParserExpressionSizeLimit(maxExprLen),
			cel.ParserRecursionLimit(100),
			ext.Strings(),
			ext.Sets(),
			ext.Lists(),
		)
	})
	return celEnv, celEnvErr
}

type compiledRule struct {
	CustomRule
	prg      cel.Program
	patterns []pointer
}

// compileCustom compiles and type-checks every custom rule that has an
// expression. Errors name the rule id and the line of its when expression.
func (d *decoder) compileCustom(c Config) []*compiledRule {
	if len(c.Custom) == 0 {
		return nil
	}
	e, err := env()
	if err != nil {
		d.problem(nil, "custom", "cannot build the CEL environment: %v", err)
		return nil
	}
	out := make([]*compiledRule, 0, len(c.Custom))
	for i, r := range c.Custom {
		if strings.TrimSpace(r.When) == "" {
			continue // reported while decoding
		}
		prg, err := compileWhen(e, r)
		if err != nil {
			d.problems = append(d.problems, Problem{
				Line: r.whenLine, Column: r.whenColumn,
				Field: fmt.Sprintf("custom[%d] (%s).when", i, r.ID), Msg: err.Error(),
			})
			continue
		}
		cr := &compiledRule{CustomRule: r, prg: prg}
		for _, s := range r.Redact {
			p, _ := parsePointer(s) // checked while decoding
			cr.patterns = append(cr.patterns, p)
		}
		out = append(out, cr)
	}
	return out
}

func compileWhen(e *cel.Env, r CustomRule) (cel.Program, error) {
	if len(r.When) > maxExprLen {
		return nil, fmt.Errorf("expression is longer than %d characters", maxExprLen)
	}
	checked, iss := e.Compile(r.When)
	if iss != nil && iss.Err() != nil {
		var msgs []string
		for _, e := range iss.Errors() {
			msgs = append(msgs, fmt.Sprintf("%s (expression line %d, column %d)", e.Message, e.Location.Line(), e.Location.Column()+1))
		}
		return nil, fmt.Errorf("does not compile: %s", oneLine(strings.Join(msgs, "; ")))
	}
	if !checked.OutputType().IsExactType(types.BoolType) {
		return nil, fmt.Errorf("must be a bool expression, but its type is %s (compare explicitly, e.g. `... == true`)", checked.OutputType())
	}
	if err := checkSelects(checked, r.Kinds); err != nil {
		return nil, err
	}
	return e.Program(checked,
		cel.CostLimit(celCostLimit),
		cel.InterruptCheckFrequency(100),
		cel.EvalOptions(cel.OptOptimize),
	)
}

// checkSelects rejects field selections on destination, source and case
// that name no field: CEL cannot type-check map keys, so a typo would
// otherwise only show up as a run-time "no such key" (and a deny).
func checkSelects(checked *cel.Ast, kinds []string) error {
	native := checked.NativeRep()
	refs := native.ReferenceMap()
	var caseKnown []string
	for _, k := range kinds {
		switch k {
		case "case.create", "case.update":
			caseKnown = append(caseKnown, knownFields("case")...)
		case "case.response":
			caseKnown = append(caseKnown, knownFields("response")...)
		case "message.deliver":
			caseKnown = append(caseKnown, knownFields("message")...)
		case "case.withdraw":
			caseKnown = append(caseKnown, knownFields("withdrawal")...)
		}
	}
	known := map[string][]string{"destination": destinationFields, "source": sourceFields, "case": caseKnown}
	var problem error
	sels := ast.MatchDescendants(ast.NavigateAST(native), ast.KindMatcher(ast.SelectKind))
	for _, s := range sels {
		sel := s.AsSelect()
		op := sel.Operand()
		if op.Kind() != ast.IdentKind {
			continue
		}
		name := op.AsIdent()
		ref, ok := refs[op.ID()]
		if !ok || ref.Name != name {
			continue // a comprehension variable shadowing the name
		}
		fields, ok := known[name]
		if !ok || contains(fields, sel.FieldName()) {
			continue
		}
		problem = fmt.Errorf("%s has no field %q (fields: %s)", name, sel.FieldName(), strings.Join(uniq(fields), ", "))
		break
	}
	return problem
}

func uniq(in []string) []string {
	seen := map[string]bool{}
	out := in[:0:0]
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " | ")
	return strings.Join(strings.Fields(s), " ")
}

// celValue converts a document decoded with UseNumber into values CEL
// understands: json.Number becomes int64 when it is integral, else float64.
func celValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = celValue(e)
		}
		return m
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = celValue(e)
		}
		return l
	case json.Number:
		if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return i
		}
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil || math.IsInf(f, 0) {
			return string(x)
		}
		return f
	default:
		return v
	}
}

// celActivation builds the variables a custom rule sees.
func celActivation(doc map[string]any, kind string, dst Destination, src Source, now time.Time) map[string]any {
	accepts := make([]any, len(dst.Accepts))
	for i, a := range dst.Accepts {
		accepts[i] = a
	}
	return map[string]any{
		"case": celValue(doc),
		"destination": map[string]any{
			"member": dst.Member, "country": dst.Country, "role": dst.Role,
			"active": dst.Active, "accepts": accepts,
		},
		"source": map[string]any{"member": src.Member, "country": src.Country},
		"kind":   kind,
		"now":    now.UTC(),
	}
}

// eval runs the rule's expression; any error (no such key, cost limit,
// cancelled context, non-bool result) is returned for the caller to turn
// into a deny.
func (r *compiledRule) eval(ctx context.Context, act map[string]any) (bool, error) {
	out, _, err := r.prg.ContextEval(ctx, act)
	if err != nil {
		return false, err
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, fmt.Errorf("result is %v, not a bool", out.Type())
	}
	return b, nil
}
