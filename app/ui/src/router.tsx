// A router of a few lines: the History API plus one hook. The app has a
// handful of routes, and react-router would triple the bundle.
import { createContext, useContext, useEffect, useState, type AnchorHTMLAttributes, type MouseEvent } from "react";

export interface Location {
  path: string;
  search: URLSearchParams;
}

function current(): Location {
  return { path: window.location.pathname, search: new URLSearchParams(window.location.search) };
}

const NAV_EVENT = "crm:navigate";

// navigate moves to another URL; state goes with the history entry (a
// list's earlier page cursors), null by default.
export function navigate(to: string, opts: { replace?: boolean; state?: unknown } = {}): void {
  if (opts.replace) window.history.replaceState(opts.state ?? null, "", to);
  else window.history.pushState(opts.state ?? null, "", to);
  window.dispatchEvent(new Event(NAV_EVENT));
}

export function useLocation(): Location {
  const [loc, setLoc] = useState(current);
  useEffect(() => {
    const on = () => setLoc(current());
    window.addEventListener("popstate", on);
    window.addEventListener(NAV_EVENT, on);
    return () => {
      window.removeEventListener("popstate", on);
      window.removeEventListener(NAV_EVENT, on);
    };
  }, []);
  return loc;
}

const LocationContext = createContext<Location>({ path: "/", search: new URLSearchParams() });
export const LocationProvider = LocationContext.Provider;
export function useRoute(): Location {
  return useContext(LocationContext);
}

// match returns the named parameters of pattern (":id" segments) in path, or
// null when the path does not fit.
export function match(pattern: string, path: string): Record<string, string> | null {
  const ps = pattern.split("/").filter(Boolean);
  const xs = path.split("/").filter(Boolean);
  if (ps.length !== xs.length) return null;
  const out: Record<string, string> = {};
  for (let i = 0; i < ps.length; i++) {
    if (ps[i].startsWith(":")) out[ps[i].slice(1)] = decodeURIComponent(xs[i]);
    else if (ps[i] !== xs[i]) return null;
  }
  return out;
}

export function Link({ href, onClick, ...rest }: AnchorHTMLAttributes<HTMLAnchorElement> & { href: string }) {
  const click = (e: MouseEvent<HTMLAnchorElement>) => {
    onClick?.(e);
    // Let the browser handle new tabs and modified clicks.
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(href);
  };
  return <a href={href} onClick={click} {...rest} />;
}

// PAGING are the query parameters of a list's page (useListCursor): a
// change of anything else in the list starts again from its first page.
export const PAGING = ["page", "after"];

// useSearchParam keeps one piece of a page's state (a search, a sort, a
// filter) in the URL's query, so a reload or Back brings the list back as it
// was. Changes replace the history entry: typing is not a trail of pages.
export function useSearchParam(name: string, fallback = ""): [string, (v: string) => void] {
  const loc = useLocation();
  const value = loc.search.get(name) ?? fallback;
  const set = (v: string) => {
    const p = new URLSearchParams(window.location.search);
    if (v === fallback) p.delete(name);
    else p.set(name, v);
    if (!PAGING.includes(name)) PAGING.forEach((k) => p.delete(k));
    const qs = p.toString();
    navigate(window.location.pathname + (qs ? "?" + qs : ""), { replace: true });
  };
  return [value, set];
}
