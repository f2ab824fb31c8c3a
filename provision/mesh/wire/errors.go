package wire

import (
	"encoding/json"
	"strings"
)

// UnitErrorPrefix starts the line with which the agent ends a failed
// unit's output: what kind of error it was, where and what to try. A
// unit's exit status carries none of that, and the user of `crmplan
// apply` should get the same code, place and hint as if the agent's
// command had run on their own machine.
const UnitErrorPrefix = "crmplan-unit-error: "

// UnitError is that line's JSON.
type UnitError struct {
	Code  string `json:"code"`
	Place string `json:"place,omitempty"`
	Hint  string `json:"hint,omitempty"`
}

// Line renders e as the output's last line.
func (e UnitError) Line() string {
	data, _ := json.Marshal(e)
	return UnitErrorPrefix + string(data) + "\n"
}

// FindUnitError returns the UnitError a failed unit's output ends with,
// and the output without that line.
func FindUnitError(output string) (UnitError, string, bool) {
	i := strings.LastIndex(output, UnitErrorPrefix)
	if i < 0 {
		return UnitError{}, output, false
	}
	line, rest, _ := strings.Cut(output[i+len(UnitErrorPrefix):], "\n")
	var e UnitError
	if err := json.Unmarshal([]byte(line), &e); err != nil || e.Code == "" {
		return UnitError{}, output, false
	}
	return e, output[:i] + rest, true
}
