import { useState } from "react";
import { api, fullName, queryString, type Contact } from "../api";
import { FormCard, TextField } from "../components/Field";
import { LoadState } from "../components/LoadState";
import { AccountPicker } from "./forms";
import { Pager, useListCursor } from "../components/Pager";
import { collect, rules, useForm } from "../form";
import { SortHeader } from "../components/SortHeader";
import { Link, navigate, useSearchParam } from "../router";
import { useAsync, useDebounced } from "../useAsync";

export function Contacts() {
  const [q, setQ] = useSearchParam("q");
  const [sort, setSort] = useSearchParam("sort", "name");
  const query = useDebounced(q.trim(), 250);
  const cursor = useListCursor();
  const list = useAsync(() => api.contacts.list({ q: query, after: cursor.after, limit: 25, total: 1, sort }), [query, sort, cursor.after]);
  return (
    <section>
      <div className="title-row">
        <h1>Contacts</h1>
        <Link className="button primary" href="/contacts/new">
          New contact
        </Link>
      </div>
      <form className="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <TextField label="Search contacts" type="search" value={q} onChange={(e) => setQ(e.target.value)} placeholder="Name, e-mail…" />
        {/* The API writes the file: every match of the search, not the page shown. */}
        <a className="button export" href={"/api/v1/export/contacts" + queryString({ q: query })} download="contacts.csv">
          Export CSV
        </a>
      </form>
      <LoadState state={list} what="contacts" isEmpty={(p) => p.items.length === 0} empty={query ? "No contacts match your search." : "No contacts yet."}>
        {(p) => <ContactList items={p.items} sort={sort} onSort={setSort} />}
      </LoadState>
      <Pager cursor={cursor} next={list.data?.next ?? ""} label="Contacts pages" totals={list.data} noun="contacts" />
    </section>
  );
}

export function ContactList({ items, sort, onSort }: { items: Contact[]; sort: string; onSort: (s: string) => void }) {
  return (
    <div className="table-wrap">
      <table className="list">
        <thead>
          <tr>
            <SortHeader label="Name" by="name" sort={sort} onSort={onSort} />
            <th scope="col">Title</th>
            <th scope="col">E-mail</th>
            <th scope="col" className="hide-s">
              Phone
            </th>
          </tr>
        </thead>
        <tbody>
          {items.map((c) => (
            <tr key={c.id}>
              <td>
                <Link href={`/contacts/${c.id}`}>{fullName(c) || "(no name)"}</Link>
              </td>
              <td>{c.title}</td>
              <td>{c.email && <a href={`mailto:${c.email}`}>{c.email}</a>}</td>
              <td className="hide-s">{c.phone}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

// NewContact is /contacts/new: the form, with an account to pick.
export function NewContact() {
  return (
    <section>
      <p className="crumbs">
        <Link href="/contacts">Contacts</Link> /
      </p>
      <h1>New contact</h1>
      <ContactForm onDone={(saved) => navigate(saved ? `/contacts/${saved.id}` : "/contacts")} />
    </section>
  );
}

type ContactValues = { first_name: string; last_name: string; email: string; phone: string; title: string };

export function validateContact(v: ContactValues) {
  return collect([
    ["first_name", rules.required(v.first_name, "First name") ?? rules.maxLen(v.first_name, 100, "First name")],
    ["last_name", rules.required(v.last_name, "Last name") ?? rules.maxLen(v.last_name, 100, "Last name")],
    ["email", rules.email(v.email)],
  ]);
}

export function ContactForm({
  contact,
  accountId,
  onDone,
}: {
  contact?: Contact;
  accountId?: number;
  onDone: (c?: Contact) => void;
}) {
  const [account, setAccount] = useState<number | null>(accountId ?? contact?.account_id ?? null);
  const f = useForm<ContactValues>(
    {
      first_name: contact?.first_name ?? "",
      last_name: contact?.last_name ?? "",
      email: contact?.email ?? "",
      phone: contact?.phone ?? "",
      title: contact?.title ?? "",
    },
    validateContact,
  );
  return (
    <FormCard
      label={contact ? "Edit contact" : "New contact"}
      banner={f.banner}
      busy={f.busy}
      submitLabel={contact ? "Save contact" : "Add contact"}
      onCancel={() => onDone()}
      onSubmit={() =>
        void f.submit(async (v) => {
          const body: Partial<Contact> = { ...v, email: v.email.trim() };
          if (contact) onDone(await api.contacts.update(contact.id, { ...body, account_id: account }));
          else onDone(await api.contacts.create(account ? { ...body, account_id: account } : body));
        })
      }
    >
      <div className="grid2">
        <TextField label="First name" required autoComplete="off" {...f.bind("first_name")} />
        <TextField label="Last name" required autoComplete="off" {...f.bind("last_name")} />
        <TextField label="E-mail" type="email" autoComplete="off" {...f.bind("email")} />
        <TextField label="Phone" type="tel" {...f.bind("phone")} />
        <TextField label="Job title" {...f.bind("title")} />
      </div>
      {!accountId && <AccountPicker value={account} onChange={setAccount} />}
    </FormCard>
  );
}
