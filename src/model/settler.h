/* settler.h: settles kept journal records in the background, as soon as
 * libvirt can answer for them, rather than only before their VM's next
 * change (journal.h, vs_journal_settle_pending). */
#pragma once

/* Starts the settler thread: every few seconds ($VIRTSNAP_SETTLE_RETRY
 * seconds, default 2; 0 turns it off), while records are kept and libvirt
 * answers, it settles those of each VM no operation is using. */
void vs_settler_start(void);
/* Stops and joins it; call after vs_journal_stop_settling. */
void vs_settler_stop(void);
