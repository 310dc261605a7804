import { SESv2Client, SendEmailCommand } from '@aws-sdk/client-sesv2';
import type { AlertMessage } from './alert.js';
import type { Notifier } from './notifier.js';

/** Sends alerts by Amazon SES (v2 API) from a verified sender to the deployment's recipients. */
export class SesNotifier implements Notifier {
  private readonly client: SESv2Client;

  constructor(
    private readonly sender: string,
    private readonly recipients: readonly string[],
    client?: SESv2Client,
  ) {
    // Two attempts, short timeouts: an alert must not hold a failing run hostage.
    this.client =
      client ?? new SESv2Client({ maxAttempts: 2, requestHandler: { connectionTimeout: 5_000, requestTimeout: 10_000 } });
  }

  get description(): string {
    return `SES ${this.recipients.join(', ')}`;
  }

  async send(message: AlertMessage): Promise<void> {
    await this.client.send(
      new SendEmailCommand({
        FromEmailAddress: this.sender,
        Destination: { ToAddresses: [...this.recipients] },
        Content: {
          Simple: {
            Subject: { Data: message.subject, Charset: 'UTF-8' },
            Body: { Text: { Data: message.text, Charset: 'UTF-8' }, Html: { Data: message.html, Charset: 'UTF-8' } },
          },
        },
      }),
    );
  }
}
