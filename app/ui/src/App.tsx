import { useCallback, useEffect, useRef, useState, type ReactNode } from "react";
import { api, ApiError, type User } from "./api";
import { Link, LocationProvider, match, navigate, useLocation } from "./router";
import { NoticeProvider } from "./notice";
import { SessionContext, useSession } from "./session";
import { SignIn } from "./pages/SignIn";
import { Dashboard } from "./pages/Dashboard";
import { Accounts } from "./pages/Accounts";
import { AccountPage } from "./pages/AccountPage";
import { Contacts, NewContact } from "./pages/Contacts";
import { ContactPage } from "./pages/ContactPage";
import { DealPage } from "./pages/DealPage";
import { Leads, LeadPage } from "./pages/Leads";
import { Pipeline } from "./pages/Pipeline";
import { Activities } from "./pages/Activities";
import { Users } from "./pages/Users";
import { Search } from "./pages/Search";

type Route = { pattern: string; title: string; render: (p: Record<string, string>) => ReactNode; admin?: boolean };

const ROUTES: Route[] = [
  { pattern: "/", title: "Dashboard", render: () => <Dashboard /> },
  { pattern: "/accounts", title: "Accounts", render: () => <Accounts /> },
  { pattern: "/accounts/:id", title: "Account", render: (p) => <AccountPage id={Number(p.id)} /> },
  { pattern: "/contacts", title: "Contacts", render: () => <Contacts /> },
  { pattern: "/contacts/new", title: "New contact", render: () => <NewContact /> },
  { pattern: "/contacts/:id", title: "Contact", render: (p) => <ContactPage id={Number(p.id)} /> },
  { pattern: "/leads", title: "Leads", render: () => <Leads /> },
  { pattern: "/leads/new", title: "New lead", render: () => <LeadPage /> },
  { pattern: "/leads/:id", title: "Lead", render: (p) => <LeadPage id={Number(p.id)} /> },
  { pattern: "/pipeline", title: "Pipeline", render: () => <Pipeline /> },
  { pattern: "/deals/:id", title: "Deal", render: (p) => <DealPage id={Number(p.id)} /> },
  { pattern: "/activities", title: "Activities", render: () => <Activities /> },
  { pattern: "/users", title: "Users", render: () => <Users />, admin: true },
  { pattern: "/search", title: "Search", render: () => <Search /> },
];

const NAV: { href: string; label: string; admin?: boolean }[] = [
  { href: "/", label: "Dashboard" },
  { href: "/accounts", label: "Accounts" },
  { href: "/contacts", label: "Contacts" },
  { href: "/leads", label: "Leads" },
  { href: "/pipeline", label: "Pipeline" },
  { href: "/activities", label: "Activities" },
  { href: "/users", label: "Users", admin: true },
];

export function resolve(path: string): { route: Route; params: Record<string, string> } | null {
  for (const route of ROUTES) {
    const params = match(route.pattern, path);
    // /contacts/abc is no contact, and not a new one either.
    if (params && (params.id === undefined || /^[1-9][0-9]{0,17}$/.test(params.id))) return { route, params };
  }
  return null;
}

export function App() {
  const loc = useLocation();
  const [user, setUser] = useState<User | null | undefined>(undefined);

  useEffect(() => {
    api.session.get().then(
      (r) => setUser(r.user),
      () => setUser(null),
    );
  }, []);

  const signOut = useCallback(async () => {
    try {
      await api.session.signOut();
    } catch (e) {
      // An expired session is already signed out; anything else is worth showing.
      if (!(e instanceof ApiError && e.status === 401)) throw e;
    }
    setUser(null);
    navigate("/", { replace: true });
  }, []);

  if (user === undefined) return <p className="loading">Loading…</p>;
  if (user === null) return <SignIn onSignedIn={setUser} />;

  return (
    <SessionContext.Provider value={{ user, signOut }}>
      <LocationProvider value={loc}>
        <NoticeProvider>
          <Shell path={loc.path} />
        </NoticeProvider>
      </LocationProvider>
    </SessionContext.Provider>
  );
}

function Shell({ path }: { path: string }) {
  const { user, signOut } = useSession();
  const [menu, setMenu] = useState(false);
  const found = resolve(path);
  const allowed = found && (!found.route.admin || user.role === "admin");

  const first = useRef(true);
  useEffect(() => {
    document.title = (found ? found.route.title + " · " : "") + "CRM";
    setMenu(false);
    // After a client-side navigation, move focus to the new page the way a
    // full page load would, so keyboard and screen-reader users start there.
    if (first.current) first.current = false;
    else document.getElementById("main")?.focus();
  }, [path, found?.route.title]);

  const active = (href: string) => (href === "/" ? path === "/" : path === href || path.startsWith(href + "/"));

  return (
    <div className="shell">
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="top">
        <button
          type="button"
          className="menu-toggle"
          aria-expanded={menu}
          aria-controls="nav"
          onClick={() => setMenu((m) => !m)}
        >
          Menu
        </button>
        <span className="brand">CRM</span>
        <form
          className="global-search"
          role="search"
          aria-label="Everything"
          onSubmit={(e) => {
            e.preventDefault();
            const q = new FormData(e.currentTarget).get("q");
            navigate("/search?q=" + encodeURIComponent(String(q ?? "").trim()));
          }}
        >
          <input name="q" type="search" aria-label="Quick search" placeholder="Search all…" title="Search accounts, contacts, deals and leads" />
        </form>
        <span className="who">
          {user.name || user.email} <span className="role">{user.role}</span>
        </span>
        <button type="button" onClick={() => void signOut()}>
          Sign out
        </button>
      </header>
      <nav id="nav" className={"side" + (menu ? " open" : "")} aria-label="Main" onClick={() => setMenu(false)}>
        <ul>
          {NAV.filter((n) => !n.admin || user.role === "admin").map((n) => (
            <li key={n.href}>
              <Link href={n.href} aria-current={active(n.href) ? "page" : undefined}>
                {n.label}
              </Link>
            </li>
          ))}
        </ul>
      </nav>
      <main id="main" tabIndex={-1}>
        {allowed ? (
          found.route.render(found.params)
        ) : (
          <section>
            <h1>Not found</h1>
            <p>
              There is nothing here. <Link href="/">Back to the dashboard</Link>
            </p>
          </section>
        )}
      </main>
    </div>
  );
}
