package schema

import (
	"encoding/json"
	"io/fs"
	"sync"
)

// enumBoxes holds, boxed once, every string the schema files name in an
// "enum" or a "const" (document kinds, types, statuses, roles, ...): about
// a third of the strings of a case. The parser returns these boxes instead
// of boxing each such string again, one allocation less per string. A box
// holds an immutable string equal to the one read, so the tree is the same
// value either way; it holds nothing of the document.
var enumBoxes = sync.OnceValue(func() map[string]any {
	boxes := map[string]any{}
	_ = fs.WalkDir(schemaFS, "v1", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := schemaFS.ReadFile(path)
		if err != nil {
			return err
		}
		var v any
		if err := json.Unmarshal(data, &v); err != nil {
			return err
		}
		collectEnums(v, boxes)
		return nil
	})
	return boxes
})

// maxEnumBox bounds the strings looked up in enumBoxes: longer ones are
// never there, and are not hashed.
const maxEnumBox = 64

func collectEnums(v any, boxes map[string]any) {
	add := func(x any) {
		if s, ok := x.(string); ok && len(s) <= maxEnumBox {
			boxes[s] = any(s)
		}
	}
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			switch k {
			case "enum":
				if a, ok := x.([]any); ok {
					for _, e := range a {
						add(e)
					}
				}
			case "const":
				add(x)
			}
			collectEnums(x, boxes)
		}
	case []any:
		for _, x := range t {
			collectEnums(x, boxes)
		}
	}
}

// boxString returns s as an any, from enumBoxes when it is there.
func boxString(s string) any {
	if len(s) <= maxEnumBox {
		if b, ok := enumBoxes()[s]; ok {
			return b
		}
	}
	return s
}
