import { useState } from "react";
import { api, fullName, type Converted, type Lead } from "../api";
import { FormCard, TextField } from "../components/Field";
import { collect, rules, useForm } from "../form";
import { AccountPicker } from "./forms";

type Values = { account_name: string; deal_name: string; deal_amount: string };

export function validateConversion(v: Values, newAccount: boolean, withDeal: boolean) {
  return collect([
    ["account_name", newAccount ? (rules.required(v.account_name, "Account name") ?? rules.maxLen(v.account_name, 200, "Account name")) : undefined],
    ["deal_name", withDeal ? (rules.required(v.deal_name, "Deal name") ?? rules.maxLen(v.deal_name, 200, "Deal name")) : undefined],
    ["deal_amount", withDeal ? (rules.nonNegative(v.deal_amount, "Amount") ?? (Number(v.deal_amount) > 1e12 ? "Amount must be at most 1,000,000,000,000." : undefined)) : undefined],
  ]);
}

// ConvertLead turns a lead into a contact on a new or existing account and,
// if asked, a deal: one request, one transaction on the server.
export function ConvertLead({ lead, onDone }: { lead: Lead; onDone: (c?: Converted) => void }) {
  const [account, setAccount] = useState<number | null>(null);
  const [withDeal, setWithDeal] = useState(true);
  const company = lead.company ?? "";
  const f = useForm<Values>(
    { account_name: company, deal_name: company ? `${company} — first order` : "", deal_amount: "" },
    (v) => validateConversion(v, account === null, withDeal),
  );
  return (
    <FormCard
      label="Convert lead"
      banner={f.banner}
      busy={f.busy}
      submitLabel="Convert"
      onCancel={() => onDone()}
      onSubmit={() =>
        void f.submit(async (v) => {
          const body = {
            ...(account ? { account_id: account } : { account_name: v.account_name.trim() }),
            ...(withDeal ? { deal_name: v.deal_name.trim(), deal_amount: v.deal_amount ? Number(v.deal_amount) : 0 } : {}),
          };
          onDone(await api.leads.convert(lead.id, body));
        })
      }
    >
      <p>
        {fullName(lead) || "This lead"} becomes a contact. The lead is kept, marked converted.
      </p>
      <AccountPicker value={account} onChange={setAccount} />
      {account === null && <TextField label="New account name" hint="Or find an existing account above." {...f.bind("account_name")} />}
      <label className="check">
        <input type="checkbox" checked={withDeal} onChange={(e) => setWithDeal(e.target.checked)} /> Also create a deal
      </label>
      {withDeal && (
        <div className="grid2">
          <TextField label="Deal name" {...f.bind("deal_name")} />
          <TextField label="Deal amount (USD)" inputMode="decimal" {...f.bind("deal_amount")} />
        </div>
      )}
    </FormCard>
  );
}
