import { useState } from "react";
import { api, fullName, type Lead } from "../api";
import { DeleteButton } from "../components/DeleteButton";
import { FormCard, SelectField, TextField } from "../components/Field";
import { LoadState } from "../components/LoadState";
import { useDelete } from "../notice";
import { LoadFailed } from "./AccountPage";
import { Pager, useCursor } from "../components/Pager";
import { collect, rules, useForm } from "../form";
import { Link, navigate } from "../router";
import { useAsync, useDebounced } from "../useAsync";

export const LEAD_STATUSES = ["new", "contacted", "qualified", "disqualified"];

export function Leads() {
  const [q, setQ] = useState("");
  const query = useDebounced(q.trim(), 250);
  const cursor = useCursor(JSON.stringify([query]));
  const list = useAsync(() => api.leads.list({ q: query, after: cursor.after, limit: 25, sort: "-updated" }), [query, cursor.after]);
  return (
    <section>
      <div className="title-row">
        <h1>Leads</h1>
        <Link className="button primary" href="/leads/new">
          New lead
        </Link>
      </div>
      <form className="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <TextField label="Search leads" type="search" value={q} onChange={(e) => setQ(e.target.value)} placeholder="Name, company, e-mail…" />
      </form>
      <LoadState state={list} what="leads" isEmpty={(p) => p.items.length === 0} empty={query ? "No leads match your search." : "No leads yet."}>
        {({ items }) => (
        <div className="table-wrap">
          <table className="list">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Company</th>
                <th scope="col">Status</th>
                <th scope="col" className="hide-s">
                  E-mail
                </th>
              </tr>
            </thead>
            <tbody>
              {items.map((l) => (
                <tr key={l.id}>
                  <td>
                    <Link href={`/leads/${l.id}`}>{fullName(l) || "(no name)"}</Link>
                  </td>
                  <td>{l.company}</td>
                  <td>{l.status}</td>
                  <td className="hide-s">{l.email}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        )}
      </LoadState>
      <Pager cursor={cursor} next={list.data?.next ?? ""} label="Leads pages" />
    </section>
  );
}

export function LeadPage({ id }: { id?: number }) {
  const l = useAsync(() => (id ? api.leads.get(id) : Promise.resolve(undefined)), [id]);
  const remove = useDelete();
  if (id && !l.data) return <LoadFailed state={l} what="lead" back="/leads" />;
  const rec = l.data;
  return (
    <section>
      <div className="title-row">
        <h1>{rec ? fullName(rec) : "New lead"}</h1>
        {rec && (
          <DeleteButton
            what="lead"
            name={fullName(rec)}
            onDelete={async () => {
              await remove("leads", rec, `Lead ${fullName(rec)}`, { undo: true, onRestored: (r) => navigate(`/leads/${r.id}`) });
              navigate("/leads");
            }}
          />
        )}
      </div>
      <LeadForm lead={l.data} onDone={() => navigate("/leads")} />
    </section>
  );
}

type LeadValues = { first_name: string; last_name: string; company: string; email: string; phone: string; status: string };

export function validateLead(v: LeadValues) {
  return collect([
    ["last_name", rules.required(v.last_name, "Last name")],
    ["company", rules.required(v.company, "Company")],
    ["email", rules.email(v.email)],
  ]);
}

export function LeadForm({ lead, onDone }: { lead?: Lead; onDone: (l?: Lead) => void }) {
  const f = useForm<LeadValues>(
    {
      first_name: lead?.first_name ?? "",
      last_name: lead?.last_name ?? "",
      company: lead?.company ?? "",
      email: lead?.email ?? "",
      phone: lead?.phone ?? "",
      status: lead?.status ?? "new",
    },
    validateLead,
  );
  return (
    <FormCard
      label={lead ? "Edit lead" : "New lead"}
      banner={f.banner}
      busy={f.busy}
      submitLabel={lead ? "Save lead" : "Create lead"}
      onCancel={() => onDone()}
      onSubmit={() =>
        void f.submit(async (v) => {
          const body = { ...v, email: v.email.trim() };
          onDone(lead ? await api.leads.update(lead.id, body) : await api.leads.create(body));
        })
      }
    >
      <div className="grid2">
        <TextField label="First name" {...f.bind("first_name")} />
        <TextField label="Last name" required {...f.bind("last_name")} />
        <TextField label="Company" required {...f.bind("company")} />
        <TextField label="E-mail" type="email" {...f.bind("email")} />
        <TextField label="Phone" type="tel" {...f.bind("phone")} />
        <SelectField label="Status" {...f.bind("status")}>
          {LEAD_STATUSES.map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </SelectField>
      </div>
    </FormCard>
  );
}
