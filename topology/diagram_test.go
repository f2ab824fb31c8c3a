package topology

import (
	"bytes"
	"encoding/xml"
	"io"
	"regexp"
	"strings"
	"testing"
)

// TestDiagramSelfContained parses every example's diagram as XML and checks
// that it references nothing outside itself and draws what the topology has.
func TestDiagramSelfContained(t *testing.T) {
	external := regexp.MustCompile(`(?i)(https?:|href=|<image|@import|url\((?:[^#]))`)
	for name, data := range examples(t) {
		t.Run(name, func(t *testing.T) {
			_, _, top := built(t, name, data)
			svg := DiagramSVG(top)
			if !bytes.Equal(svg, DiagramSVG(top)) {
				t.Fatal("two renderings of one topology differ")
			}
			outside := strings.Replace(string(svg), `xmlns="http://www.w3.org/2000/svg"`, "", 1)
			if m := external.FindString(outside); m != "" {
				t.Errorf("diagram references something outside itself: %q", m)
			}
			counts := elementCounts(t, svg)
			if counts["zone"] != len(top.Zones) {
				t.Errorf("%d zone boxes, want %d", counts["zone"], len(top.Zones))
			}
			for _, h := range top.Hosts {
				if !bytes.Contains(svg, []byte(">"+h.Name+"  "+h.Address+"<")) {
					t.Errorf("host %s is not drawn", h.Name)
				}
			}
			if counts["link"] < len(top.Links) {
				t.Errorf("%d arrows for %d links", counts["link"], len(top.Links))
			}
		})
	}
}

// elementCounts parses svg and counts elements by class attribute.
func elementCounts(t *testing.T, svg []byte) map[string]int {
	t.Helper()
	counts := map[string]int{}
	d := xml.NewDecoder(bytes.NewReader(svg))
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return counts
		}
		if err != nil {
			t.Fatalf("diagram is not well-formed XML: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			for _, a := range se.Attr {
				if a.Name.Local == "class" {
					counts[a.Value]++
				}
			}
		}
	}
}

// TestDiagramEscapes draws a topology Validate would refuse, with markup in
// its names: the SVG must stay well-formed.
func TestDiagramEscapes(t *testing.T) {
	top := Topology{
		Zones: []Zone{{Name: `<dmz & "co">`, Kind: DMZ, CIDR: "127.10.1.0/24"}},
		Hosts: []Host{{Name: "web-1</text><script>", Role: RoleWeb, Zone: `<dmz & "co">`, Address: "127.10.1.10", Port: 8080}},
		Links: []Link{{From: RoleWeb, To: RoleWeb, Port: 8080}},
	}
	svg := DiagramSVG(top)
	elementCounts(t, svg)
	if bytes.Contains(svg, []byte("<script>")) {
		t.Error("a host name came through as markup")
	}
}
