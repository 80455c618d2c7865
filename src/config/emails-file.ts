/** `authorization.emailsFile` (oauth2-proxy `authenticated_emails_file`): one address per line. */
import { readFileSync } from 'node:fs';
import { GatewayError } from '../errors.js';

/**
 * Reads the allowed-emails file: the first CSV column of each line, `#` comments, lower-cased.
 * @throws GatewayError `ERR_CONFIG_EMAILS_FILE` when it cannot be read.
 */
export function readEmailsFile(path: string): Set<string> {
  if (path === '') return new Set();
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new GatewayError('ERR_CONFIG_EMAILS_FILE', `authorization.emailsFile: cannot read '${path}' (${(error as NodeJS.ErrnoException).code ?? 'unreadable'})`, { cause: error });
  }
  const emails = new Set<string>();
  for (const line of text.split(/\r?\n/)) {
    const entry = line.split('#')[0]?.split(',')[0]?.trim().toLowerCase() ?? '';
    if (entry !== '') emails.add(entry);
  }
  return emails;
}
