package config

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// leaf is one configuration field: its path of yaml keys and its value.
type leaf struct {
	path []string
	val  reflect.Value
}

// leaves walks c's fields by their yaml tags, down to the values a file sets
// (durations, scalars, lists and maps).
func leaves(c *Config) []leaf {
	var out []leaf
	var walk func(v reflect.Value, path []string)
	walk = func(v reflect.Value, path []string) {
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			key := strings.Split(f.Tag.Get("yaml"), ",")[0]
			if key == "" || key == "-" {
				continue
			}
			p := append(append([]string(nil), path...), key)
			if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeOf(time.Duration(0)) {
				walk(v.Field(i), p)
				continue
			}
			out = append(out, leaf{p, v.Field(i)})
		}
	}
	walk(reflect.ValueOf(c).Elem(), nil)
	return out
}

// envName is the FLX_* variable of a field path.
func envName(path []string) string {
	return "FLX_" + strings.ToUpper(strings.Join(path, "_"))
}

// sharesComment are the fields example.yaml documents in the comment of the
// field just above them (a certificate and its key, a pair of bounds).
var sharesComment = map[string]bool{"federation.tls_key": true, "local_api.tls_key": true, "delivery.backoff_max": true}

// notFromEnv are the fields no variable sets, as example.yaml says.
var notFromEnv = map[string]bool{"local_api.tokens": true}

// TestReferenceDocumentsEveryField: every field of Config stands in
// example.yaml (the one YAML reference) at its own path, with a comment
// (its own, or the one of the field just above that it shares), and with
// its default as the value (TestExampleIsDefaults); every field but the
// token list has its FLX_* variable, named after its path, which sets that
// field; and the configuration reads no other variable.
func TestReferenceDocumentsEveryField(t *testing.T) {
	var doc yaml.Node
	if err := yaml.Unmarshal(Example(), &doc); err != nil {
		t.Fatal(err)
	}
	// find returns the key node at path and the key just before it.
	find := func(path []string) (key, prev *yaml.Node) {
		m := doc.Content[0]
		for depth, k := range path {
			if m.Kind != yaml.MappingNode {
				return nil, nil
			}
			var next *yaml.Node
			for i := 0; i+1 < len(m.Content); i += 2 {
				if m.Content[i].Value == k {
					key, next = m.Content[i], m.Content[i+1]
					prev = nil
					if i >= 2 {
						prev = m.Content[i-2]
					}
					break
				}
			}
			if next == nil {
				return nil, nil
			}
			if depth < len(path)-1 {
				m = next
			}
		}
		return key, prev
	}
	envs := map[string]bool{}
	for _, n := range EnvNames() {
		envs[n] = true
	}
	c := Defaults()
	for _, l := range leaves(&c) {
		name := strings.Join(l.path, ".")
		key, prev := find(l.path)
		switch {
		case key == nil:
			t.Errorf("%s is not in example.yaml", name)
		case key.HeadComment == "" && key.LineComment == "" && !(sharesComment[name] && prev != nil && prev.HeadComment != ""):
			t.Errorf("%s has no comment in example.yaml", name)
		}
		env := envName(l.path)
		if notFromEnv[name] {
			if envs[env] {
				t.Errorf("%s is read from %s, but notFromEnv says no variable sets it", name, env)
			}
			continue
		}
		if !envs[env] {
			t.Errorf("%s has no variable %s", name, env)
			continue
		}
		delete(envs, env)
		// The variable sets this very field.
		before := reflect.ValueOf(l.val.Interface())
		var v string
		switch l.val.Interface().(type) {
		case string:
			v = "set-by-env"
		case int, int64:
			v = "7"
		case float64:
			v = "0.7"
		case bool:
			v = "false"
			if !l.val.Bool() {
				v = "true"
			}
		case time.Duration:
			v = "7s"
		case []string:
			v = "XB-RC,ICRC-CTA"
		case map[string]string:
			v = "XB-RC=ICRC-CTA"
		default:
			t.Errorf("%s: no sample value for %s", name, l.val.Type())
			continue
		}
		if err := c.ApplyEnv(func(k string) (string, bool) { return v, k == env }); err != nil {
			t.Errorf("%s=%s: %v", env, v, err)
			continue
		}
		if reflect.DeepEqual(before.Interface(), l.val.Interface()) {
			t.Errorf("%s=%s does not change %s", env, v, name)
		}
	}
	for env := range envs {
		t.Errorf("the configuration reads %s, which names no field", env)
	}
}
