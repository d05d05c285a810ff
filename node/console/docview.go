package console

import (
	"strconv"
	"strings"
	"time"
)

// docNode is one part of a case document shown read-only, walked with the
// same schema tree as the form: a label, a readable value, or children.
type docNode struct {
	Label    string
	Value    string
	Children []*docNode
	Names    []nameRow // a person's names, one row per written form
	NameCol  string    // column headings of Names
	InfoCol  string
	Heading  bool // an item of a list (a person, a consent, ...)
	Level    int  // heading level (3..6)
}

// nameRow is one written form of a name: the value keeps its own language
// and the browser decides its direction.
type nameRow struct {
	Value, Lang, Part, Script, Scheme string
}

// docView renders a case document (decoded JSON) for reading.
func (fsch *formSchema) docView(lc *locale, doc map[string]any) *docNode {
	persons := map[string]string{}
	if ps, ok := doc["persons"].([]any); ok {
		for _, p := range ps {
			m, _ := p.(map[string]any)
			if id, ok := m["id"].(string); ok {
				persons[id] = id
				if n := firstName(m); n != "" {
					persons[id] = n + " (" + id + ")"
				}
			}
		}
	}
	dv := &docViewer{lc: lc, persons: persons}
	root := &docNode{}
	for _, f := range fsch.root.props {
		if n := dv.node(f, doc[f.name], lc.T("f."+f.name)); n != nil {
			root.Children = append(root.Children, n)
		}
	}
	setLevels(root, 2)
	return root
}

type docViewer struct {
	lc      *locale
	persons map[string]string
}

func (dv *docViewer) node(f *field, v any, label string) *docNode {
	if v == nil {
		return nil
	}
	n := &docNode{Label: label}
	switch f.kind {
	case kObject:
		m, _ := v.(map[string]any)
		for _, p := range f.props {
			if c := dv.node(p, m[p.name], dv.lc.T("f."+p.name)); c != nil {
				n.Children = append(n.Children, c)
			}
		}
		if len(n.Children) == 0 {
			return nil
		}
	case kArray:
		arr, _ := v.([]any)
		if len(arr) == 0 {
			return nil
		}
		if f.name == "names" {
			n.NameCol, n.InfoCol = dv.lc.T("f.value"), dv.lc.T("doc.name_details")
			for _, it := range arr {
				m, _ := it.(map[string]any)
				row := nameRow{Value: str(m["value"]), Lang: str(m["lang"])}
				if p := str(m["part"]); p != "" {
					row.Part = dv.label("e.", p)
				}
				if s := str(m["script"]); s != "" {
					row.Script = dv.label("script.", s)
				}
				if s := str(m["scheme"]); s != "" {
					row.Scheme = dv.label("e.", s)
				}
				n.Names = append(n.Names, row)
			}
			return n
		}
		for i, it := range arr {
			label := dv.lc.T("i."+f.name, i+1)
			if m, ok := it.(map[string]any); ok && f.name == "persons" {
				if nm := firstName(m); nm != "" {
					label += " — " + nm
				}
			}
			if c := dv.node(f.item, it, label); c != nil {
				c.Heading = true
				n.Children = append(n.Children, c)
			}
		}
	case kEnum:
		n.Value = dv.label("e.", str(v))
	case kScript:
		n.Value = dv.label("script.", str(v))
	case kBool:
		if b, _ := v.(bool); b {
			n.Value = dv.lc.T("form.yes")
		} else {
			n.Value = dv.lc.T("form.no")
		}
	case kPartialDate, kDate:
		n.Value = dv.lc.partialDate(str(v))
	case kDateTime:
		if t, err := time.Parse(time.RFC3339, str(v)); err == nil {
			n.Value = dv.lc.dateTime(t)
		} else {
			n.Value = str(v)
		}
	case kEnumSet, kStringList, kPersonSet:
		arr, _ := v.([]any)
		parts := make([]string, 0, len(arr))
		for _, x := range arr {
			switch f.kind {
			case kEnumSet:
				parts = append(parts, dv.label("e.", str(x)))
			case kPersonSet:
				parts = append(parts, dv.person(str(x)))
			default:
				parts = append(parts, str(x))
			}
		}
		n.Value = strings.Join(parts, ", ")
	case kPersonRef:
		n.Value = dv.person(str(v))
	case kInt, kNumber:
		if x, ok := v.(float64); ok && x == float64(int64(x)) {
			n.Value = strconv.FormatInt(int64(x), 10)
		} else {
			n.Value = str(v)
		}
	default:
		n.Value = str(v)
	}
	return n
}

func (dv *docViewer) label(prefix, v string) string {
	if dv.lc.has(prefix + v) {
		return dv.lc.T(prefix + v)
	}
	return v
}

func (dv *docViewer) person(id string) string {
	if s, ok := dv.persons[id]; ok {
		return s
	}
	return id
}

func setLevels(n *docNode, level int) {
	n.Level = min(level, 6)
	for _, c := range n.Children {
		setLevels(c, level+1)
	}
}

// Leaves are the children shown as term and value; Groups the children
// with parts of their own.
func (n *docNode) Leaves() []*docNode {
	var out []*docNode
	for _, c := range n.Children {
		if len(c.Children) == 0 && len(c.Names) == 0 {
			out = append(out, c)
		}
	}
	return out
}

func (n *docNode) Groups() []*docNode {
	var out []*docNode
	for _, c := range n.Children {
		if len(c.Children) > 0 || len(c.Names) > 0 {
			out = append(out, c)
		}
	}
	return out
}
