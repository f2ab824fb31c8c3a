import { useEffect, useState } from "react";
import { api, type Role, type User } from "../api";
import { LoadState } from "../components/LoadState";
import { ErrorBanner, FormCard, SelectField, TextField } from "../components/Field";
import { collect, rules, useForm } from "../form";
import { useSession } from "../session";
import { useAsync } from "../useAsync";

const ROLES: Role[] = ["admin", "manager", "rep"];

export function Users() {
  const { user: me } = useSession();
  const [adding, setAdding] = useState(false);
  const [version, setVersion] = useState(0);
  const [error, setError] = useState<string | null>(null);
  // Users are few (thousands at most) and the API lists them in one answer.
  const list = useAsync(() => api.users.list(), [version]);
  const [rows, setRows] = useState<User[] | undefined>(undefined);
  useEffect(() => setRows(list.data?.items), [list.data]);

  const patch = async (u: User, change: Partial<User>) => {
    setError(null);
    try {
      const saved = await api.users.update(u.id, change);
      setRows((rs) => rs?.map((r) => (r.id === u.id ? { ...r, ...change, ...(saved ?? {}) } : r)));
    } catch (e) {
      setError(`${u.email}: ${(e as Error).message}`);
    }
  };

  return (
    <section>
      <div className="title-row">
        <h1>Users and roles</h1>
        <button type="button" className="primary" onClick={() => setAdding((a) => !a)} aria-expanded={adding}>
          New user
        </button>
      </div>
      {adding && (
        <UserForm
          onDone={(u) => {
            setAdding(false);
            if (u) setVersion((v) => v + 1);
          }}
        />
      )}
      <ErrorBanner error={error} />
      <LoadState state={list} what="users" isEmpty={() => false} empty="">
        {() => (
        <div className="table-wrap">
          <table className="list">
            <thead>
              <tr>
                <th scope="col">E-mail</th>
                <th scope="col" className="hide-s">
                  Name
                </th>
                <th scope="col">Role</th>
                <th scope="col">Active</th>
              </tr>
            </thead>
            <tbody>
              {(rows ?? []).map((u) => (
                <tr key={u.id}>
                  <td>{u.email}</td>
                  <td className="hide-s">{u.name}</td>
                  <td>
                    <label>
                      <span className="sr-only">Role of {u.email}</span>
                      <select value={u.role} disabled={u.id === me.id} onChange={(e) => void patch(u, { role: e.target.value as Role })}>
                        {ROLES.map((r) => (
                          <option key={r} value={r}>
                            {r}
                          </option>
                        ))}
                      </select>
                    </label>
                  </td>
                  <td>
                    <label>
                      <span className="sr-only">{u.email} active</span>
                      <input type="checkbox" checked={u.active !== false} disabled={u.id === me.id} onChange={(e) => void patch(u, { active: e.target.checked })} />
                    </label>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        )}
      </LoadState>
    </section>
  );
}

type UserValues = { email: string; name: string; role: Role; password: string };

export function validateUser(v: UserValues) {
  return collect([
    ["email", rules.required(v.email, "E-mail") ?? rules.email(v.email)],
    ["name", rules.required(v.name, "Name")],
    ["password", rules.required(v.password, "Password") ?? (v.password.length < 12 ? "Password must be at least 12 characters." : undefined)],
  ]);
}

function UserForm({ onDone }: { onDone: (u?: User) => void }) {
  const f = useForm<UserValues>({ email: "", name: "", role: "rep", password: "" }, validateUser);
  return (
    <FormCard
      label="New user"
      banner={f.banner}
      busy={f.busy}
      submitLabel="Create user"
      onCancel={() => onDone()}
      onSubmit={() =>
        void f.submit(async (v) => onDone(await api.users.create({ ...v, email: v.email.trim() })))
      }
    >
      <div className="grid2">
        <TextField label="E-mail" type="email" autoComplete="off" {...f.bind("email")} />
        <TextField label="Name" {...f.bind("name")} />
        <SelectField label="Role" {...f.bind("role")}>
          {ROLES.map((r) => (
            <option key={r} value={r}>
              {r}
            </option>
          ))}
        </SelectField>
        <TextField label="Initial password" type="password" autoComplete="new-password" {...f.bind("password")} />
      </div>
    </FormCard>
  );
}
