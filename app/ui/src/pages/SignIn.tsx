import { api, type User } from "../api";
import { ErrorBanner, TextField } from "../components/Field";
import { collect, rules, useForm } from "../form";

export function SignIn({ onSignedIn }: { onSignedIn: (u: User) => void }) {
  const f = useForm({ email: "", password: "" }, (v) =>
    collect([
      ["email", rules.required(v.email, "E-mail") ?? rules.email(v.email)],
      ["password", rules.required(v.password, "Password")],
    ]),
  );
  return (
    <main className="signin">
      <form
        noValidate
        aria-labelledby="signin-title"
        onSubmit={(e) => {
          e.preventDefault();
          void f.submit(async (v) => onSignedIn((await api.session.signIn(v.email.trim(), v.password)).user));
        }}
      >
        <h1 id="signin-title">Sign in to CRM</h1>
        <ErrorBanner error={f.banner} />
        <TextField
          label="E-mail"
          type="email"
          name="email"
          autoComplete="username"
          autoFocus
          {...f.bind("email")}
        />
        <TextField
          label="Password"
          type="password"
          name="password"
          autoComplete="current-password"
          {...f.bind("password")}
        />
        <button className="primary" type="submit" disabled={f.busy}>
          {f.busy ? "Signing in…" : "Sign in"}
        </button>
      </form>
    </main>
  );
}
