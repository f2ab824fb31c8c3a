package topology

import (
	"bytes"
	"encoding/xml"
	"fmt"
)

// Diagram geometry, in SVG user units (pixels).
const (
	dMargin    = 20.0
	dTitle     = 30.0 // height of the title line
	dZoneW     = 250.0
	dZoneHead  = 34.0
	dGroupW    = 210.0
	dGroupPad  = 20.0 // from the zone's left edge to its groups
	dLine      = 16.0 // one host line
	dGroupGap  = 14.0
	dColGap    = 110.0 // between zones, for the arrows and their ports
	dBulge     = 26.0  // how far a link within one zone swings out, plus dBulgeStep per link
	dBulgeStep = 11.0
)

// group is the hosts of one role in one zone: the diagram draws hosts per
// role so that a link is one arrow however many servers a tier has.
type group struct {
	role    Role
	zone    int // column
	hosts   []Host
	x, y, h float64
}

// DiagramSVG draws the topology: each zone a labelled box (DMZ amber, LANs
// blue) side by side in topology order, inside it one box per role listing
// its hosts with address and port (and the roles that run beside it on
// the same machines, Host.Sidecars), and every allowed link as an arrow from
// role to role labelled with its port; links within a zone swing out to the
// zone's right. The SVG is self-contained (generic font family, no external
// references) and the same topology always gives the same bytes.
func DiagramSVG(t Topology) []byte {
	groups, cols := layoutGroups(t)
	bulges := sameZoneLinks(t, groups)
	colX := make([]float64, len(t.Zones))
	x := dMargin
	for i := range t.Zones {
		colX[i] = x
		x += dZoneW + max(dColGap, dBulge+dBulgeStep*float64(bulges[i])+50)
	}
	width := x - dColGap + dColGap/2
	height := dMargin + dTitle + dZoneHead + 2*dMargin
	for _, h := range cols {
		height = max(height, dMargin+dTitle+dZoneHead+h+2*dMargin)
	}
	for i := range groups {
		groups[i].x = colX[groups[i].zone] + dGroupPad
	}

	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="12">`+"\n",
		width, height, width, height)
	b.WriteString(`<defs><marker id="topo-arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#444"/></marker></defs>` + "\n")
	fmt.Fprintf(&b, `<rect width="%.0f" height="%.0f" fill="#ffffff"/>`+"\n", width, height)
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" font-size="15" font-weight="bold">%s</text>`+"\n",
		dMargin, dMargin+14, esc(fmt.Sprintf("Topology: %d hosts in %d zones, %d allowed links", len(t.Hosts), len(t.Zones), len(t.Links))))
	for i, z := range t.Zones {
		drawZone(&b, z, colX[i], height)
	}
	for _, g := range groups {
		drawGroup(&b, g)
	}
	drawLinks(&b, t, groups)
	b.WriteString("</svg>\n")
	return b.Bytes()
}

// layoutGroups groups the hosts by zone and role, in host order, and stacks
// the groups of each zone; it returns the groups and each column's height.
func layoutGroups(t Topology) ([]group, []float64) {
	zoneIdx := map[string]int{}
	for i, z := range t.Zones {
		zoneIdx[z.Name] = i
	}
	var groups []group
	at := map[string]int{}
	for _, h := range t.Hosts {
		zi, ok := zoneIdx[h.Zone]
		if !ok {
			continue // Validate rejects it; the diagram just leaves it out
		}
		key := h.Zone + "\x00" + string(h.Role)
		i, ok := at[key]
		if !ok {
			i = len(groups)
			at[key] = i
			groups = append(groups, group{role: h.Role, zone: zi})
		}
		groups[i].hosts = append(groups[i].hosts, h)
	}
	cols := make([]float64, len(t.Zones))
	for i := range groups {
		g := &groups[i]
		g.h = 24 + dLine*float64(len(g.hosts)) + 6
		g.y = dMargin + dTitle + dZoneHead + cols[g.zone]
		cols[g.zone] += g.h + dGroupGap
	}
	return groups, cols
}

// sameZoneLinks counts, per zone, the arrows that start and end in it.
func sameZoneLinks(t Topology, groups []group) []int {
	n := make([]int, len(t.Zones))
	for _, l := range t.Links {
		for _, a := range groups {
			for _, c := range groups {
				if a.role == l.From && c.role == l.To && a.zone == c.zone {
					n[a.zone]++
				}
			}
		}
	}
	return n
}

func drawZone(b *bytes.Buffer, z Zone, x, height float64) {
	fill, stroke := "#eaf2fb", "#2f6db5"
	switch z.Kind {
	case DMZ:
		fill, stroke = "#fff4e5", "#d98200"
	case Outside: // the users' side: neutral grey
		fill, stroke = "#f3f3f3", "#6b6b6b"
	}
	top := dMargin + dTitle
	fmt.Fprintf(b, `<g class="zone" id="topo-zone-%s">`, esc(z.Name))
	fmt.Fprintf(b, `<rect x="%.0f" y="%.0f" width="%.0f" height="%.0f" rx="8" fill="%s" stroke="%s" stroke-width="2"/>`,
		x, top, dZoneW, height-top-dMargin, fill, stroke)
	fmt.Fprintf(b, `<text x="%.0f" y="%.0f" font-weight="bold" fill="%s">%s</text>`,
		x+10, top+20, stroke, esc(zoneTitle(z)))
	b.WriteString("</g>\n")
}

// zoneTitle is "dmz  127.10.1.0/24", or "lan-a (lan)  127.10.2.0/24" when
// the name does not say the kind.
func zoneTitle(z Zone) string {
	name := z.Name
	if name != string(z.Kind) {
		name += " (" + string(z.Kind) + ")"
	}
	return name + "  " + z.CIDR
}

func drawGroup(b *bytes.Buffer, g group) {
	fill := "#ffffff"
	if g.role.IsData() {
		fill = "#f1f1f1"
	}
	port := ""
	if len(g.hosts) > 0 && g.hosts[0].Port > 0 {
		port = fmt.Sprintf(" :%d", g.hosts[0].Port)
	}
	fmt.Fprintf(b, `<g class="role" id="topo-role-%s-%d">`, esc(string(g.role)), g.zone)
	fmt.Fprintf(b, `<rect x="%.0f" y="%.0f" width="%.0f" height="%.0f" rx="4" fill="%s" stroke="#555"/>`,
		g.x, g.y, dGroupW, g.h, fill)
	title := string(g.role) + port
	if len(g.hosts) > 0 {
		// Every host of a role has the same sidecars (Build).
		for _, r := range g.hosts[0].Sidecars {
			title += fmt.Sprintf(" + %s :%d", r, DefaultPort(r))
		}
	}
	fmt.Fprintf(b, `<text x="%.0f" y="%.0f" font-weight="bold">%s</text>`, g.x+8, g.y+17, esc(title))
	for i, h := range g.hosts {
		fmt.Fprintf(b, `<text x="%.0f" y="%.0f">%s</text>`, g.x+14, g.y+17+dLine*float64(i+1), esc(h.Name+"  "+h.Address))
	}
	b.WriteString("</g>\n")
}

// drawLinks draws one arrow per link and pair of groups of its roles.
func drawLinks(b *bytes.Buffer, t Topology, groups []group) {
	used := map[int]int{} // same-zone arrows drawn so far, per zone
	for _, l := range t.Links {
		for _, a := range groups {
			for _, c := range groups {
				if a.role != l.From || c.role != l.To {
					continue
				}
				label := fmt.Sprintf(":%d", l.Port)
				if a.zone == c.zone {
					bulge := dBulge + dBulgeStep*float64(used[a.zone])
					used[a.zone]++
					drawLoop(b, a, c, bulge, label)
				} else {
					drawArrow(b, a, c, label)
				}
			}
		}
	}
}

// drawArrow joins groups in different zones, side to facing side.
func drawArrow(b *bytes.Buffer, a, c group, label string) {
	x1, x2 := a.x+dGroupW, c.x
	if c.zone < a.zone {
		x1, x2 = a.x, c.x+dGroupW
	}
	y1, y2 := a.y+a.h/2, c.y+c.h/2
	mx := (x1 + x2) / 2
	fmt.Fprintf(b, `<path class="link" d="M%.1f,%.1f C%.1f,%.1f %.1f,%.1f %.1f,%.1f" fill="none" stroke="#444" stroke-width="1.4" marker-end="url(#topo-arrow)"/>`,
		x1, y1, mx, y1, mx, y2, x2, y2)
	// The port goes by the arrowhead: every arrow into a group carries the
	// same port, so labels that meet there coincide instead of cluttering.
	lx, anchor := x2-10, "end"
	if x2 < x1 {
		lx, anchor = x2+10, "start"
	}
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="%s" font-size="11" fill="#222">%s</text>`+"\n",
		lx, y2-5, anchor, esc(label))
}

// drawLoop joins groups of one zone (or a group to itself) with a curve
// that swings out past the zone's right edge.
func drawLoop(b *bytes.Buffer, a, c group, bulge float64, label string) {
	x := a.x + dGroupW
	y1, y2 := a.y+a.h/2-4, c.y+c.h/2+4
	if a.y == c.y {
		y1, y2 = a.y+a.h/2-8, a.y+a.h/2+8 // a self link: a small loop
	}
	cx := x + bulge + (dZoneW - dGroupPad - dGroupW)
	fmt.Fprintf(b, `<path class="link" d="M%.1f,%.1f C%.1f,%.1f %.1f,%.1f %.1f,%.1f" fill="none" stroke="#444" stroke-width="1.4" marker-end="url(#topo-arrow)"/>`,
		x, y1, cx, y1, cx, y2, x, y2)
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" font-size="11" fill="#222">%s</text>`+"\n",
		x+4, y2+13, esc(label))
}

func esc(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s)) // writes to a bytes.Buffer cannot fail
	return b.String()
}
