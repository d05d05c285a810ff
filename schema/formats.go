package schema

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// The FLX-specific formats. Validators that do not know them treat them as
// annotations; Validate asserts them.
var customFormats = []*jsonschema.Format{
	{Name: "flx-partial-date", Validate: validatePartialDate},
	{Name: "flx-int64", Validate: validateInt64},
}

var customFormatNames = map[string]struct{}{"flx-partial-date": {}, "flx-int64": {}}

// validatePartialDate checks that a YYYY-MM-DD partial date names a day that
// exists (2023-02-29 does not). The shape itself is checked by the pattern
// next to the format, so strings of another shape are left to it.
func validatePartialDate(v any) error {
	s, ok := v.(string)
	if !ok || len(s) != 10 {
		return nil
	}
	if _, err := time.Parse(time.DateOnly, s); err != nil {
		if _, _, perr := parseDateParts(s); perr != nil {
			return nil // wrong shape: the pattern reports it
		}
		return errors.New("no such day in that month")
	}
	return nil
}

func parseDateParts(s string) (y, m int, err error) {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return 0, 0, errors.New("shape")
	}
	if y, err = strconv.Atoi(s[:4]); err != nil {
		return 0, 0, err
	}
	if m, err = strconv.Atoi(s[5:7]); err != nil || m < 1 || m > 12 {
		return 0, 0, errors.New("month")
	}
	d, err := strconv.Atoi(s[8:])
	if err != nil || d < 1 || d > 31 {
		return 0, 0, errors.New("day")
	}
	return y, m, nil
}

// validateInt64 requires an integer to be written as a plain integer literal
// (no fraction, no exponent) that fits in an int64. JSON Schema's "integer"
// accepts 1.0 and 1e3, which Go (and many other decoders) will not put into
// an integer field: a document that validates must also decode into the Go
// types.
func validateInt64(v any) error {
	n, ok := v.(json.Number)
	if !ok {
		return nil
	}
	s := string(n)
	if strings.ContainsAny(s, ".eE") {
		return errors.New("write integers without fraction or exponent")
	}
	if _, err := strconv.ParseInt(s, 10, 64); err != nil {
		return errors.New("out of range")
	}
	return nil
}
