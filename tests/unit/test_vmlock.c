/* test_vmlock.c: unit tests of the per-VM FIFO locks (src/model/vmlock.h):
 * holders run one at a time and in ticket order, whatever order their
 * threads start in; different VMs do not wait for each other; a VM the
 * lock's gate removes is not found; a wait that gives up is skipped. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <glib.h>

#include "hv_fixture.h"
#include "model/vmlock.h"
#include "util/error.h"

#include <string.h>

#define N_WORKERS 12

typedef struct {
    VsVmLock *lock;
    GMutex mutex;
    int order[N_WORKERS];
    int n_done;
    int inside;     /* holders at this moment */
    int max_inside; /* most holders ever at once */
} Shared;

typedef struct {
    Shared *shared;
    int index;
    guint64 ticket;
} Worker;

static gpointer worker_main(gpointer data)
{
    Worker *w = data;
    Shared *s = w->shared;
    vs_vmlock_wait(s->lock, w->ticket);
    g_mutex_lock(&s->mutex);
    s->inside++;
    s->max_inside = MAX(s->max_inside, s->inside);
    g_mutex_unlock(&s->mutex);
    g_usleep(2000); /* hold the lock a little, so overlaps would show */
    g_mutex_lock(&s->mutex);
    s->order[s->n_done++] = w->index;
    s->inside--;
    g_mutex_unlock(&s->mutex);
    vs_vmlock_release(s->lock);
    return NULL;
}

static void test_same_lock_per_uuid(void **state)
{
    (void)state;
    VsVmLock *a = vs_vmlock_for("11111111-1111-1111-1111-111111111111");
    VsVmLock *a2 = vs_vmlock_for("11111111-1111-1111-1111-111111111111");
    VsVmLock *b = vs_vmlock_for("22222222-2222-2222-2222-222222222222");
    assert_non_null(a);
    assert_ptr_equal(a, a2);
    assert_ptr_not_equal(a, b);
}

/* Tickets are taken in order 0..N-1 (as the API accepts requests), but the
 * threads start in reverse order and later tickets wait first: they must
 * still run in ticket order, one at a time. */
static void test_fifo_order(void **state)
{
    (void)state;
    Shared s = {.lock = vs_vmlock_for("fifo-vm")};
    g_mutex_init(&s.mutex);
    Worker workers[N_WORKERS];
    GThread *threads[N_WORKERS];
    /* someone holds the lock while the tickets are handed out */
    vs_vmlock_acquire(s.lock);
    for (int i = 0; i < N_WORKERS; i++)
        workers[i] = (Worker){.shared = &s, .index = i, .ticket = vs_vmlock_ticket(s.lock)};
    for (int i = 1; i < N_WORKERS; i++)
        assert_true(workers[i].ticket > workers[i - 1].ticket);
    for (int i = N_WORKERS - 1; i >= 0; i--) {
        threads[i] = g_thread_new("vmlock-worker", worker_main, &workers[i]);
        g_usleep(1000); /* let it reach its wait */
    }
    g_usleep(20 * 1000);
    g_mutex_lock(&s.mutex);
    assert_int_equal(s.n_done, 0); /* nobody ran while the first holder holds it */
    g_mutex_unlock(&s.mutex);
    vs_vmlock_release(s.lock);
    for (int i = 0; i < N_WORKERS; i++)
        g_thread_join(threads[i]);
    assert_int_equal(s.n_done, N_WORKERS);
    for (int i = 0; i < N_WORKERS; i++)
        assert_int_equal(s.order[i], i);
    assert_int_equal(s.max_inside, 1);
    /* the lock is free again */
    vs_vmlock_acquire(s.lock);
    vs_vmlock_release(s.lock);
    g_mutex_clear(&s.mutex);
}

/* A later ticket whose holder arrives first still waits for the earlier one. */
static void test_later_ticket_waits(void **state)
{
    (void)state;
    Shared s = {.lock = vs_vmlock_for("late-vm")};
    g_mutex_init(&s.mutex);
    guint64 first = vs_vmlock_ticket(s.lock);
    Worker second = {.shared = &s, .index = 1, .ticket = vs_vmlock_ticket(s.lock)};
    GThread *t = g_thread_new("vmlock-second", worker_main, &second);
    g_usleep(30 * 1000);
    g_mutex_lock(&s.mutex);
    assert_int_equal(s.n_done, 0);
    g_mutex_unlock(&s.mutex);
    vs_vmlock_wait(s.lock, first); /* returns at once: it is our turn */
    g_mutex_lock(&s.mutex);
    s.order[s.n_done++] = 0;
    g_mutex_unlock(&s.mutex);
    vs_vmlock_release(s.lock);
    g_thread_join(t);
    assert_int_equal(s.n_done, 2);
    assert_int_equal(s.order[0], 0);
    assert_int_equal(s.order[1], 1);
    g_mutex_clear(&s.mutex);
}

static gpointer take_and_release(gpointer data)
{
    VsVmLock *lock = data;
    vs_vmlock_acquire(lock);
    vs_vmlock_release(lock);
    return GINT_TO_POINTER(1);
}

/* Holding one VM's lock does not stop work on another VM. */
/* A VM's queue is bounded: the ticket past the limit is refused with BUSY
 * (429) until one is served. */
static void test_queue_bounded(void **state)
{
    (void)state;
    VsVmLock *lock = vs_vmlock_for("bounded-queue-uuid");
    for (int i = 0; i < VS_VMLOCK_MAX_QUEUED; i++) {
        assert_true(vs_vmlock_has_room(lock, "q", NULL));
        vs_vmlock_ticket(lock);
    }
    g_autoptr(GError) error = NULL;
    assert_false(vs_vmlock_has_room(lock, "q", &error));
    assert_true(g_error_matches(error, VS_ERROR, VS_ERR_BUSY));
    assert_non_null(strstr(error->message, "'q'"));
    vs_vmlock_wait(lock, 0); /* a fresh lock: the first ticket is 0 */
    vs_vmlock_release(lock);
    assert_true(vs_vmlock_has_room(lock, "q", NULL));
    for (int i = 1; i < VS_VMLOCK_MAX_QUEUED; i++)
        vs_vmlock_release(lock);
}

/* Quiet: nothing queued or under way; ENDED counts the operations that ended. */
static void test_quiet(void **state)
{
    (void)state;
    VsVmLock *lock = vs_vmlock_for("quiet-uuid");
    guint64 ended = 99;
    assert_true(vs_vmlock_quiet(lock, &ended));
    assert_true(ended == 0);
    guint64 ticket = vs_vmlock_ticket(lock); /* accepted, not yet running */
    assert_false(vs_vmlock_quiet(lock, &ended));
    vs_vmlock_wait(lock, ticket);
    assert_false(vs_vmlock_quiet(lock, &ended));
    vs_vmlock_release(lock);
    assert_true(vs_vmlock_quiet(lock, &ended));
    assert_true(ended == 1);
    vs_vmlock_acquire(lock);
    vs_vmlock_release(lock);
    assert_true(vs_vmlock_quiet(lock, &ended));
    assert_true(ended == 2);
}

/* Try-acquire takes a quiet lock only: not one held, nor one an accepted
 * operation waits for (it would jump the queue). */
static void test_try_acquire(void **state)
{
    (void)state;
    VsVmLock *lock = vs_vmlock_for("try-uuid");
    assert_true(vs_vmlock_try_acquire(lock));
    assert_false(vs_vmlock_try_acquire(lock)); /* held */
    guint64 waiting = vs_vmlock_ticket(lock);  /* accepted behind it */
    vs_vmlock_release(lock);
    assert_false(vs_vmlock_try_acquire(lock)); /* its turn, not ours */
    vs_vmlock_wait(lock, waiting);
    vs_vmlock_release(lock);
    assert_true(vs_vmlock_try_acquire(lock));
    vs_vmlock_release(lock);
    guint64 ended = 0;
    assert_true(vs_vmlock_quiet(lock, &ended));
    assert_true(ended == 3);
}

static void test_vms_independent(void **state)
{
    (void)state;
    VsVmLock *a = vs_vmlock_for("independent-a");
    VsVmLock *b = vs_vmlock_for("independent-b");
    vs_vmlock_acquire(a);
    GThread *t = g_thread_new("vmlock-other", take_and_release, b);
    gint64 start = g_get_monotonic_time();
    assert_int_equal(GPOINTER_TO_INT(g_thread_join(t)), 1);
    assert_true(g_get_monotonic_time() - start < 5 * G_USEC_PER_SEC);
    vs_vmlock_release(a);
}

/* A gate that removes the VM it is asked about, as the settle of a VM
 * delete cut off earlier does. */
static bool gate_removes_vm(const char *uuid, GError **error)
{
    (void)error;
    g_autoptr(virConnect) conn = vs_hv_connect(NULL);
    g_autoptr(virDomain) dom = virDomainLookupByUUIDString(conn, uuid);
    return dom && virDomainUndefine(dom) == 0;
}

/* The VM is looked up again after the gate, not before: a request for a
 * VM that settling removed answers "not found" and holds no lock, instead
 * of going on with a domain that is gone. */
static void test_gate_removes_vm(void **state)
{
    (void)state;
    g_autofree char *dir = NULL;
    assert_true(hv_fixture_start("vs-vmlock", &dir));
    g_autoptr(virConnect) conn = vs_hv_connect(NULL);
    g_autoptr(virDomain) vm = virDomainDefineXML(
        conn, "<domain type='test'><name>settled-away</name><memory>65536</memory>"
              "<os><type>hvm</type></os></domain>");
    assert_non_null(vm);
    g_autofree char *uuid = vs_hv_uuid(vm);
    vs_vmlock_set_gate(gate_removes_vm);
    VsVmLock *lock = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(virDomain) dom = vs_vmlock_domain(conn, "settled-away", &lock, &error);
    vs_vmlock_set_gate(NULL);
    assert_null(dom);
    assert_true(g_error_matches(error, VS_ERROR, VS_ERR_NOT_FOUND));
    assert_true(vs_vmlock_try_acquire(vs_vmlock_for(uuid))); /* released */
    vs_vmlock_release(vs_vmlock_for(uuid));
    hv_fixture_stop(g_steal_pointer(&dir));
}

/* A wait that gives up: false at its deadline with the operations still
 * ahead of it, its ticket skipped when its turn comes (the next holder is
 * not stuck behind it), and not counted against the queue's bound. */
static void test_wait_gives_up(void **state)
{
    (void)state;
    VsVmLock *lock = vs_vmlock_for("gives-up-uuid");
    vs_vmlock_acquire(lock); /* ticket 0: under way */
    guint64 behind = vs_vmlock_ticket(lock);
    guint64 mine = vs_vmlock_ticket(lock);
    guint64 ahead = 99;
    gint64 t0 = g_get_monotonic_time();
    assert_false(vs_vmlock_wait_until(lock, mine, t0 + 50000, &ahead));
    assert_true(g_get_monotonic_time() - t0 >= 50000);
    assert_true(ahead == 2); /* the one under way, and BEHIND */
    assert_false(vs_vmlock_wait_until(lock, behind, g_get_monotonic_time() + 1000, &ahead));
    assert_true(ahead == 1);
    guint64 later = vs_vmlock_ticket(lock);
    for (int i = 0; i < VS_VMLOCK_MAX_QUEUED - 2; i++) {
        assert_true(vs_vmlock_has_room(lock, "g", NULL));
        vs_vmlock_ticket(lock);
    }
    assert_false(vs_vmlock_has_room(lock, "g", NULL)); /* 32 that count: 0, LATER and 30 */
    vs_vmlock_release(lock); /* 0 ends: BEHIND and MINE are skipped */
    assert_true(vs_vmlock_wait_until(lock, later, g_get_monotonic_time() + 1000, NULL));
    for (int i = 0; i < VS_VMLOCK_MAX_QUEUED - 1; i++)
        vs_vmlock_release(lock);
    guint64 ended = 0;
    assert_true(vs_vmlock_quiet(lock, &ended));
    assert_true(ended == later + VS_VMLOCK_MAX_QUEUED - 1);
}

/* Given up as the last in the queue: the lock is quiet once the holder
 * before it ends; a wait whose turn has come takes it. */
static void test_gave_up_last(void **state)
{
    (void)state;
    VsVmLock *lock = vs_vmlock_for("gave-up-last-uuid");
    vs_vmlock_acquire(lock);
    guint64 mine = vs_vmlock_ticket(lock);
    assert_false(vs_vmlock_wait_until(lock, mine, g_get_monotonic_time() + 1000, NULL));
    guint64 ended = 0;
    assert_false(vs_vmlock_quiet(lock, &ended));
    vs_vmlock_release(lock);
    assert_true(vs_vmlock_quiet(lock, &ended));
    assert_true(ended == 2);
    guint64 next = vs_vmlock_ticket(lock);
    assert_true(vs_vmlock_wait_until(lock, next, g_get_monotonic_time(), NULL)); /* its turn */
    vs_vmlock_release(lock);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_lock_per_uuid),
        cmocka_unit_test(test_fifo_order),
        cmocka_unit_test(test_later_ticket_waits),
        cmocka_unit_test(test_vms_independent),
        cmocka_unit_test(test_queue_bounded),
        cmocka_unit_test(test_quiet),
        cmocka_unit_test(test_try_acquire),
        cmocka_unit_test(test_gate_removes_vm),
        cmocka_unit_test(test_wait_gives_up),
        cmocka_unit_test(test_gave_up_last),
    };
    return cmocka_run_group_tests_name("vmlock", tests, NULL, NULL);
}
