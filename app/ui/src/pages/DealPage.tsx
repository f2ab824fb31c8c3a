import { useState } from "react";
import { api, formatDate, formatMoney, stageLabel, type Opportunity, type StageChange } from "../api";
import { DeleteButton } from "../components/DeleteButton";
import { LoadState } from "../components/LoadState";
import { useDelete } from "../notice";
import { Link, navigate } from "../router";
import { useAsync } from "../useAsync";
import { Fact, LoadFailed } from "./AccountPage";
import { ActivitySection } from "./ActivitySection";
import { OpportunityForm } from "./forms";


// DealPage shows one opportunity: its facts, an edit form and the
// activities logged on it.
export function DealPage({ id }: { id: number }) {
  const d = useAsync(() => api.opportunities.get(id), [id]);
  if (!d.data) return <LoadFailed state={d} what="deal" back="/pipeline" />;
  return <DealView key={d.data.id} o={d.data} reload={d.reload} />;
}

function DealView({ o, reload }: { o: Opportunity; reload: () => void }) {
  const [editing, setEditing] = useState(false);
  const remove = useDelete();
  const account = useAsync(() => api.accounts.get(o.account_id), [o.account_id]);
  const accountHref = `/accounts/${o.account_id}`;
  const accountName = account.data?.name ?? o.account_name ?? "Account";

  return (
    <section>
      <p className="crumbs">
        <Link href="/pipeline">Pipeline</Link> / <Link href={accountHref}>{accountName}</Link> /
      </p>
      <div className="title-row">
        <h1>{o.name}</h1>
        <button type="button" onClick={() => setEditing((e) => !e)} aria-expanded={editing}>
          Edit
        </button>
        <DeleteButton
          what="deal"
          name={o.name}
          consequence="Activities logged on it stay on the account."
          onDelete={async () => {
            await remove("opportunities", o, `Deal ${o.name}`, { undo: true, onRestored: (r) => navigate(`/deals/${r.id}`) });
            navigate(accountHref);
          }}
        />
      </div>
      <dl className="facts">
        <Fact k="Stage" v={<span className={"stage s-" + o.stage}>{stageLabel(o.stage)}</span>} />
        <Fact k="Amount" v={formatMoney(o.amount)} />
        <Fact k="Expected close" v={o.close_date ? formatDate(o.close_date) : "Not set"} />
        {o.probability != null && <Fact k="Probability" v={`${o.probability} %`} />}
        <Fact k="Account" v={<Link href={accountHref}>{accountName}</Link>} />
        {o.updated_at && <Fact k="Last changed" v={formatDate(o.updated_at)} />}
      </dl>
      {editing && (
        <OpportunityForm
          accountId={o.account_id}
          opportunity={o}
          onDone={(saved) => {
            setEditing(false);
            if (saved) reload();
          }}
        />
      )}

      <StageHistory id={o.id} version={`${o.stage} ${o.updated_at ?? ""}`} />
      <ActivitySection accountId={o.account_id} opportunityId={o.id} />
    </section>
  );
}

// StageHistory lists the stages the deal entered, newest first, with who
// moved it and when. version changes when the deal is saved, so an edit
// that moved it shows at once.
export function StageHistory({ id, version }: { id: number; version: string }) {
  const h = useAsync(() => api.opportunities.stages(id), [id, version]);
  return (
    <section aria-labelledby="stage-history">
      <h2 id="stage-history">Stage history</h2>
      <LoadState state={h} what="stage history" isEmpty={(p) => p.items.length === 0} empty="No stage changes recorded yet.">
        {(p) => (
          <ol className="stages" aria-label="Stage history">
            {p.items.map((c, i) => (
              <li key={i}>
                <StageStep c={c} />
              </li>
            ))}
          </ol>
        )}
      </LoadState>
    </section>
  );
}

function StageStep({ c }: { c: StageChange }) {
  const when = new Date(c.changed_at);
  const who = c.changed_by_name ?? "a former user";
  return (
    <>
      {c.from_stage ? (
        <>
          {stageLabel(c.from_stage)} → <span className={"stage s-" + c.to_stage}>{stageLabel(c.to_stage)}</span>
        </>
      ) : (
        <>
          Created in <span className={"stage s-" + c.to_stage}>{stageLabel(c.to_stage)}</span>
        </>
      )}{" "}
      <span className="muted">
        by {who}, <time dateTime={c.changed_at}>{isNaN(when.getTime()) ? c.changed_at : when.toLocaleString("en-GB", { dateStyle: "medium", timeStyle: "short" })}</time>
      </span>
    </>
  );
}
