package wire

import "testing"

func TestFindUnitError(t *testing.T) {
	tests := []struct {
		name, output, wantRest string
		want                   UnitError
		found                  bool
	}{
		{"none", "crmplan: boom\n", "crmplan: boom\n", UnitError{}, false},
		{"last line", "crmplan: port taken\nTry: ss -ltnp\n" + UnitError{Code: "conflict", Hint: "ss -ltnp"}.Line(),
			"crmplan: port taken\nTry: ss -ltnp\n", UnitError{Code: "conflict", Hint: "ss -ltnp"}, true},
		{"output after it", "a\n" + UnitError{Code: "invalid", Place: "--role"}.Line() + "b\n", "a\nb\n", UnitError{Code: "invalid", Place: "--role"}, true},
		{"damaged", "x\n" + UnitErrorPrefix + "{not json\n", "x\n" + UnitErrorPrefix + "{not json\n", UnitError{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, rest, found := FindUnitError(tt.output)
			if got != tt.want || rest != tt.wantRest || found != tt.found {
				t.Errorf("FindUnitError(%q) = %+v, %q, %v; want %+v, %q, %v", tt.output, got, rest, found, tt.want, tt.wantRest, tt.found)
			}
		})
	}
}
