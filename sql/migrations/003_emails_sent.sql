-- Version 3: the sent-mail ledger. One row per message accepted by the SMTP server (or per
-- message whose recipients were partly refused: only the accepted ones are listed), so a
-- re-run sends nothing already delivered unless asked (--resend).
-- kind: chargeback (a team's month) | summary (the organisation's month, team '*') |
-- anomaly (a team's nightly flags; period is the day, topics the flag kinds it carried).
CREATE TABLE emails_sent (
    kind        VARCHAR   NOT NULL,
    period      VARCHAR   NOT NULL,  -- 2026-10 for a month, 2026-11-02 for a nightly day
    team        VARCHAR   NOT NULL,
    recipients  VARCHAR[] NOT NULL,
    message_id  VARCHAR   NOT NULL,
    subject     VARCHAR   NOT NULL,
    topics      VARCHAR[],
    sent_at     TIMESTAMP NOT NULL,
    run_id      VARCHAR
);
