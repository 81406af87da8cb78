import { listAttachments } from '../../mail/mime.ts';
import { type ClientCheck, defineMatchKey } from '../define.ts';
import { asFetched } from '../facts.ts';
import { globToRegex, mimeTypeMatches } from '../key-kit.ts';

function attachmentCheck({ type, filename }: { type?: string; filename?: string }): ClientCheck {
  const filenameRegex = filename === undefined ? undefined : globToRegex(filename);
  return {
    needs: { bodyStructure: true },
    test: (m) =>
      listAttachments(m.bodyStructure).some(
        (part) =>
          (type === undefined || mimeTypeMatches(type, part.type)) &&
          (filenameRegex === undefined || filenameRegex.test(part.filename ?? '')),
      ),
  };
}

/** An attachment of a MIME type and/or file name, from BODYSTRUCTURE (nothing is downloaded for it). */
export const attachment = defineMatchKey({
  key: 'attachment',
  schema: (kit) =>
    kit.z
      .strictObject({ type: kit.mimeType.optional(), filename: kit.glob.optional() })
      .describe('Has an attachment of this MIME type and/or file name (from BODYSTRUCTURE).'),
  check: (value) => attachmentCheck(value),
  evaluate: (value, message) => {
    const parts = listAttachments(message.bodyStructure);
    const saw = parts.map(
      (part) => `${part.type}${part.filename ? ` ${JSON.stringify(part.filename)}` : ''}`,
    );
    const matched = attachmentCheck(value).test(asFetched(message));
    return { matched, saw: saw.length === 0 ? 'no attachments' : saw.join(', ') };
  },
});
