import { useState } from "react";
import { ApiError } from "./api";

export type Errors = Record<string, string>;
export type Validator<T> = (v: T) => Errors;

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

// Client-side checks catch the obvious before a round trip; the server
// remains the authority and its field errors land in the same place.
export const rules = {
  required: (v: unknown, what: string): string | undefined =>
    v === undefined || v === null || String(v).trim() === "" ? `${what} is required.` : undefined,
  email: (v: string | undefined): string | undefined =>
    v && !EMAIL.test(v.trim()) ? "Enter an e-mail address like name@example.com." : undefined,
  maxLen: (v: string | undefined, n: number, what: string): string | undefined =>
    v && v.length > n ? `${what} must be at most ${n} characters.` : undefined,
  nonNegative: (v: string | number | undefined, what: string): string | undefined => {
    if (v === undefined || v === "") return undefined;
    const n = Number(v);
    // Number("1e9999") is Infinity, which JSON sends as null.
    return !Number.isFinite(n) || n < 0 ? `${what} must be a number of 0 or more.` : undefined;
  },
};

export function collect(entries: [string, string | undefined][]): Errors {
  const out: Errors = {};
  for (const [k, msg] of entries) if (msg && !out[k]) out[k] = msg;
  return out;
}

export interface FormState<T> {
  values: T;
  errors: Errors;
  banner: string | null;
  busy: boolean;
  set: <K extends keyof T>(k: K, v: T[K]) => void;
  submit: (save: (v: T) => Promise<unknown>) => Promise<boolean>;
  reset: (v: T) => void;
  // bind gives a text-valued input its value, error and change handler.
  bind: (k: keyof T & string) => { value: string; error?: string; onChange: (e: { target: { value: string } }) => void };
}

// useForm keeps values, per-field errors and a banner for errors that name
// no field. submit() validates, saves, and maps an ApiError to either.
export function useForm<T extends object>(initial: T, validate: Validator<T>): FormState<T> {
  const [values, setValues] = useState<T>(initial);
  const [errors, setErrors] = useState<Errors>({});
  const [banner, setBanner] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const set = <K extends keyof T>(k: K, v: T[K]) => {
    setValues((old) => ({ ...old, [k]: v }));
    setErrors((old) => {
      if (!old[k as string]) return old;
      const copy = { ...old };
      delete copy[k as string];
      return copy;
    });
  };

  const submit = async (save: (v: T) => Promise<unknown>) => {
    const errs = validate(values);
    setErrors(errs);
    setBanner(null);
    if (Object.keys(errs).length > 0) return false;
    setBusy(true);
    try {
      await save(values);
      return true;
    } catch (e) {
      if (e instanceof ApiError && e.field && e.field in values) {
        setErrors({ [e.field]: e.message });
      } else {
        // A field the form does not show (say, account_id) is still named.
        const field = e instanceof ApiError && e.field ? e.field.replace(/_/g, " ") + ": " : "";
        setBanner(field + (e instanceof Error ? e.message : String(e)));
      }
      return false;
    } finally {
      setBusy(false);
    }
  };

  const reset = (v: T) => {
    setValues(v);
    setErrors({});
    setBanner(null);
  };

  const bind = (k: keyof T & string) => ({
    value: String(values[k] ?? ""),
    error: errors[k],
    onChange: (e: { target: { value: string } }) => set(k, e.target.value as T[typeof k]),
  });

  return { values, errors, banner, busy, set, submit, reset, bind };
}
