import { useState } from "react";
import { api, formatDate, formatMoney, stageLabel, type Opportunity } from "../api";
import { LoadState } from "../components/LoadState";
import { useDelete } from "../notice";
import { Link } from "../router";
import { useAsync } from "../useAsync";
import { Timeline } from "./AccountPage";
import { ActivityForm } from "./forms";

// ActivitySection is the timeline of a contact or a deal (the API filters
// activities by contact_id or opportunity_id), with "Log activity" linking
// the new one to that record and its account, and delete with undo.
export function ActivitySection({ accountId, contactId, opportunityId }: { accountId?: number; contactId?: number; opportunityId?: number }) {
  const [logging, setLogging] = useState(false);
  const remove = useDelete();
  const acts = useAsync(
    () => api.activities.list({ contact_id: contactId, opportunity_id: opportunityId, sort: "-updated", limit: 25 }),
    [contactId, opportunityId],
  );
  return (
    <section aria-labelledby="timeline-h">
      <div className="title-row">
        <h2 id="timeline-h">Activity</h2>
        <button type="button" onClick={() => setLogging((l) => !l)} aria-expanded={logging}>
          Log activity
        </button>
      </div>
      {logging && (
        <ActivityForm
          accountId={accountId}
          contactId={contactId}
          opportunityId={opportunityId}
          onDone={(a) => {
            setLogging(false);
            if (a) acts.reload();
          }}
        />
      )}
      <LoadState state={acts} what="activities" isEmpty={() => false} empty="">
        {(p) => (
          <Timeline
            items={p.items}
            onDelete={async (t) => {
              await remove("activities", t, `Activity ${t.subject}`, { undo: true, onRestored: acts.reload });
              acts.reload();
            }}
          />
        )}
      </LoadState>
    </section>
  );
}

// DealSummary is a deal in a list of deals: a link to its page, the stage,
// amount and expected close.
export function DealSummary({ o }: { o: Opportunity }) {
  return (
    <div>
      <Link href={`/deals/${o.id}`}>{o.name}</Link> <span className={"stage s-" + o.stage}>{stageLabel(o.stage)}</span>
      <div>
        {formatMoney(o.amount)}
        {o.close_date && <span className="muted"> · closes {formatDate(o.close_date)}</span>}
      </div>
    </div>
  );
}
