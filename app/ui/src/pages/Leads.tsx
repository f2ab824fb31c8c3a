import { useState } from "react";
import { api, fullName, type Lead } from "../api";
import { DeleteButton } from "../components/DeleteButton";
import { FormCard, SelectField, TextField } from "../components/Field";
import { LoadState } from "../components/LoadState";
import { useDelete, useNotice } from "../notice";
import { ConvertLead } from "./ConvertLead";
import { LoadFailed } from "./AccountPage";
import { Pager, useListCursor } from "../components/Pager";
import { collect, rules, useForm } from "../form";
import { SortHeader } from "../components/SortHeader";
import { Link, navigate, useSearchParam } from "../router";
import { useAsync, useDebounced } from "../useAsync";

// The statuses a user sets; "converted" is set by converting the lead.
export const LEAD_STATUSES = ["new", "contacted", "qualified", "disqualified"];

export function Leads() {
  const [q, setQ] = useSearchParam("q");
  const [status, setStatus] = useSearchParam("status");
  const [sort, setSort] = useSearchParam("sort", "-updated");
  const query = useDebounced(q.trim(), 250);
  const cursor = useListCursor();
  const list = useAsync(() => api.leads.list({ q: query, status, after: cursor.after, limit: 25, total: 1, sort }), [query, status, sort, cursor.after]);
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
        <SelectField label="Status" value={status} onChange={(e) => setStatus(e.target.value)}>
          <option value="">All</option>
          {[...LEAD_STATUSES, "converted"].map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </SelectField>
      </form>
      <LoadState state={list} what="leads" isEmpty={(p) => p.items.length === 0} empty={query || status ? "No leads match your search." : "No leads yet."}>
        {({ items }) => (
        <div className="table-wrap">
          <table className="list">
            <thead>
              <tr>
                <SortHeader label="Name" by="name" sort={sort} onSort={setSort} />
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
      <Pager cursor={cursor} next={list.data?.next ?? ""} label="Leads pages" totals={list.data} noun="leads" />
    </section>
  );
}

export function LeadPage({ id }: { id?: number }) {
  const l = useAsync(() => (id ? api.leads.get(id) : Promise.resolve(undefined)), [id]);
  const remove = useDelete();
  const show = useNotice();
  const [converting, setConverting] = useState(false);
  if (id && !l.data) return <LoadFailed state={l} what="lead" back="/leads" />;
  const rec = l.data;
  const converted = rec?.status === "converted";
  return (
    <section>
      <div className="title-row">
        <h1>{rec ? fullName(rec) : "New lead"}</h1>
        {rec && !converted && (
          <button type="button" className="primary" onClick={() => setConverting((c) => !c)} aria-expanded={converting}>
            Convert
          </button>
        )}
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
      {converted && <p className="banner info">This lead was converted: its contact, account and deal are in the CRM.</p>}
      {rec && converting && (
        <ConvertLead
          lead={rec}
          onDone={(out) => {
            setConverting(false);
            if (!out) return;
            show({ message: `${fullName(rec) || "Lead"} converted: contact, account${out.opportunity ? " and deal" : ""} created.` });
            navigate(`/contacts/${out.contact.id}`);
          }}
        />
      )}
      {!converting && <LeadForm key={rec?.status} lead={l.data} onDone={() => navigate("/leads")} />}
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
          {(lead?.status === "converted" ? [...LEAD_STATUSES, "converted"] : LEAD_STATUSES).map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </SelectField>
      </div>
    </FormCard>
  );
}
