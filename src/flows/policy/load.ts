import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { type Policy, policySchema } from './schema.ts';

export const demoPolicyFile = fileURLToPath(new URL('./demo-policy.yaml', import.meta.url));

/** Raised when the policy file cannot be read or is invalid; the message names the field. */
export class PolicyError extends Error {}

/** Parses policy text (YAML, of which JSON is a subset); returns the first problem as one line. */
export function parsePolicy(text: string, source = 'policy'): Policy {
  let raw: unknown;
  try {
    // maxAliasCount guards against alias bombs in a hand-edited file.
    raw = parseYaml(text, { maxAliasCount: 100 });
  } catch (err) {
    throw new PolicyError(`${source}: not valid YAML/JSON: ${(err as Error).message.split('\n')[0]}`);
  }
  const result = policySchema.safeParse(raw);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  throw new PolicyError(`${source}: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
}

/** Reads the company policy, or the demo company's when no file is given. */
export async function loadPolicy(file: string | undefined): Promise<Policy> {
  const path = file ?? demoPolicyFile;
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new PolicyError(`POLICY_FILE ${path}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`);
  }
  return parsePolicy(text, path);
}
