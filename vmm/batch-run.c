/* batch-run.c: the batch runner: a pool of slots, one thread each, over any executor. */
#include <config.h>

#include "batch-run.h"
#include "error.h"

#include <string.h>

typedef enum {
    SLOT_IDLE,
    SLOT_CREATING,
    SLOT_RESETTING,
    SLOT_RUNNING,
    SLOT_DEAD,     /* its sandbox could not be (re)made */
    SLOT_FINISHED, /* thread done, sandbox destroyed */
} SlotState;

typedef struct {
    VmmBatchSlot slot;
    VmmBatchRunner *runner;
    GThread *thread;
    SlotState state; /* under runner->lock */
    gboolean exists; /* a sandbox may exist for this slot */
    gboolean dirty;  /* a job ran since the last create/reset */
} Slot;

struct _VmmBatchRunner {
    const VmmBatchPlan *plan;
    const VmmBatchExecutor *exec;
    gpointer data;
    GPtrArray *results; /* VmmBatchResult*, plan order */
    Slot *slots;
    guint n_slots;
    GAsyncQueue *queue; /* job index + 1 */
    gint stop;          /* atomic */
    gint64 start_us;
    VmmBatchJobDoneFunc done_func;
    gpointer done_data;

    gboolean stagger; /* slot i boots once slot i-1's first boot has ended */

    GMutex lock;       /* everything below */
    GCond booted;      /* boots_ended grew, or stop */
    guint boots_ended; /* first boots that have ended (ready or failed) */
    guint done, failed, alive, finished;
    gdouble slot_busy_s; /* reset + job time of finished jobs, for the ETA */
    guint creates, resets, replaced;
    gdouble create_s, reset_s;
    char *last_error;    /* why the last slot died */
    GPtrArray *warnings; /* destroy failures etc. */
};

static gdouble
now_s(void)
{
    return g_get_monotonic_time() / (gdouble)G_USEC_PER_SEC;
}

static gboolean
stopped(VmmBatchRunner *r)
{
    return g_atomic_int_get(&r->stop) != 0;
}

static void
set_state(Slot *s, SlotState state)
{
    g_mutex_lock(&s->runner->lock);
    s->state = state;
    g_mutex_unlock(&s->runner->lock);
}

VmmBatchRunner *
vmm_batch_runner_new(const VmmBatchPlan *plan, guint n_slots, const char *const *slot_uris,
                     const VmmBatchExecutor *executor, gpointer data)
{
    VmmBatchRunner *r = g_new0(VmmBatchRunner, 1);

    r->plan = plan;
    r->exec = executor;
    r->data = data;
    r->n_slots = n_slots;
    r->slots = g_new0(Slot, n_slots);
    r->results = g_ptr_array_new_with_free_func((GDestroyNotify)vmm_batch_result_free);
    r->warnings = g_ptr_array_new_with_free_func(g_free);
    r->queue = g_async_queue_new();
    g_mutex_init(&r->lock);
    g_cond_init(&r->booted);
    for (guint i = 0; i < plan->jobs->len; i++) {
        g_ptr_array_add(r->results, vmm_batch_result_new(g_ptr_array_index(plan->jobs, i)));
        g_async_queue_push(r->queue, GUINT_TO_POINTER(i + 1));
    }
    for (guint i = 0; i < n_slots; i++) {
        Slot *s = &r->slots[i];
        s->runner = r;
        s->slot.index = i;
        s->slot.name = g_strdup_printf("%s-%u", plan->prefix, i + 1);
        s->slot.uri = (char *)slot_uris[i];
    }
    return r;
}

void
vmm_batch_runner_free(VmmBatchRunner *r)
{
    if (!r)
        return;
    vmm_batch_runner_join(r);
    for (guint i = 0; i < r->n_slots; i++) {
        if (r->exec->slot_free)
            r->exec->slot_free(&r->slots[i].slot, r->data);
        g_free(r->slots[i].slot.name);
    }
    g_free(r->slots);
    g_ptr_array_unref(r->results);
    g_ptr_array_unref(r->warnings);
    g_async_queue_unref(r->queue);
    g_free(r->last_error);
    g_cond_clear(&r->booted);
    g_mutex_clear(&r->lock);
    g_free(r);
}

void
vmm_batch_runner_set_job_done(VmmBatchRunner *r, VmmBatchJobDoneFunc func, gpointer user_data)
{
    r->done_func = func;
    r->done_data = user_data;
}

static gboolean
slot_create(Slot *s, GError **error)
{
    VmmBatchRunner *r = s->runner;
    gdouble t0 = now_s();
    gboolean ok;

    set_state(s, SLOT_CREATING);
    s->exists = TRUE;
    ok = r->exec->create(&s->slot, r->data, error);
    g_mutex_lock(&r->lock);
    r->creates++;
    r->create_s += now_s() - t0;
    g_mutex_unlock(&r->lock);
    s->dirty = FALSE;
    return ok;
}

static void
slot_destroy(Slot *s)
{
    VmmBatchRunner *r = s->runner;
    g_autoptr(GError) err = NULL;

    if (!s->exists)
        return;
    if (!r->exec->destroy(&s->slot, r->data, &err)) {
        g_mutex_lock(&r->lock);
        g_ptr_array_add(r->warnings, g_strdup_printf("cannot destroy sandbox '%s': %s",
                                                     s->slot.name, err->message));
        g_mutex_unlock(&r->lock);
    }
    s->exists = FALSE;
}

/* Destroys and recreates the slot's sandbox. */
static gboolean
slot_replace(Slot *s, GError **error)
{
    slot_destroy(s);
    if (stopped(s->runner)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED, "interrupted");
        return FALSE;
    }
    g_mutex_lock(&s->runner->lock);
    s->runner->replaced++;
    g_mutex_unlock(&s->runner->lock);
    return slot_create(s, error);
}

/* The slot is unusable: it takes no more jobs. */
static void
slot_die(Slot *s, const GError *err)
{
    VmmBatchRunner *r = s->runner;

    g_mutex_lock(&r->lock);
    s->state = SLOT_DEAD;
    r->alive--;
    g_free(r->last_error);
    r->last_error = g_strdup_printf("sandbox '%s' on %s: %s", s->slot.name, s->slot.uri,
                                    err ? err->message : "failed");
    g_mutex_unlock(&r->lock);
}

/* Makes the slot's sandbox clean for the next job: reset, or replace when reset fails. */
static gboolean
slot_clean(Slot *s, GError **error)
{
    VmmBatchRunner *r = s->runner;
    g_autoptr(GError) rerr = NULL;
    gdouble t0;
    gboolean ok;

    if (!s->dirty)
        return TRUE;
    set_state(s, SLOT_RESETTING);
    t0 = now_s();
    ok = r->exec->reset(&s->slot, r->data, &rerr);
    g_mutex_lock(&r->lock);
    r->resets++;
    r->reset_s += now_s() - t0;
    g_mutex_unlock(&r->lock);
    if (ok) {
        s->dirty = FALSE;
        return TRUE;
    }
    if (stopped(r)) {
        g_propagate_error(error, g_steal_pointer(&rerr));
        return FALSE;
    }
    return slot_replace(s, error);
}

static void
finish_job(Slot *s, VmmBatchResult *res, gdouble busy_s)
{
    VmmBatchRunner *r = s->runner;

    g_mutex_lock(&r->lock);
    r->done++;
    r->failed += !vmm_batch_result_ok(res);
    r->slot_busy_s += busy_s;
    g_mutex_unlock(&r->lock);
    if (r->done_func)
        r->done_func(res, r->done_data);
}

/*
 * Runs one job in the slot, retrying once in a new sandbox when the sandbox
 * breaks. Returns FALSE when the slot is dead (the job was given back).
 */
static gboolean
slot_run_job(Slot *s, guint index)
{
    VmmBatchRunner *r = s->runner;
    VmmBatchResult *res = g_ptr_array_index(r->results, index);
    const VmmBatchJob *job = res->job;
    gdouble busy0 = now_s();

    for (;;) {
        g_autoptr(GError) err = NULL;
        gdouble t0;
        gboolean ok;

        if (!slot_clean(s, &err)) {
            if (stopped(r))
                return TRUE; /* stays NOT_RUN */
            /* No sandbox here any more: another slot may still run the job. */
            g_async_queue_push_front(r->queue, GUINT_TO_POINTER(index + 1));
            slot_die(s, err);
            return FALSE;
        }
        if (stopped(r)) {
            if (res->retried) { /* between a broken try and its retry */
                res->error = g_strdup("interrupted before its retry");
                finish_job(s, res, now_s() - busy0);
            }
            return TRUE;
        }
        set_state(s, SLOT_RUNNING);
        g_free(res->sandbox);
        res->sandbox = g_strdup(s->slot.name);
        g_free(res->host);
        res->host = g_strdup(s->slot.uri);
        res->started_s = (g_get_monotonic_time() - r->start_us) / (gdouble)G_USEC_PER_SEC;
        s->dirty = TRUE;
        t0 = now_s();
        ok = r->exec->run(&s->slot, job, res, r->data, &err);
        res->duration_s = now_s() - t0;

        if (ok) {
            if (res->error && res->exit_code < 0)
                res->status = VMM_BATCH_STATUS_ERROR;
            else
                res->status = res->exit_code == job->expect ? VMM_BATCH_STATUS_PASSED
                                                            : VMM_BATCH_STATUS_FAILED;
        } else if (stopped(r)) {
            res->status = VMM_BATCH_STATUS_NOT_RUN;
            g_free(res->error);
            res->error = g_strdup("interrupted while running");
        } else if (g_error_matches(err, VMM_ERROR, VMM_ERROR_TIMEOUT)) {
            res->status = VMM_BATCH_STATUS_TIMEOUT;
            g_free(res->error);
            res->error = g_strdup(err->message);
        } else if (!res->retried) {
            /* The sandbox broke: replace it and run the job once more. */
            g_autoptr(GError) cerr = NULL;
            vmm_batch_result_reset(res);
            res->retried = TRUE;
            if (slot_replace(s, &cerr))
                continue;
            if (stopped(r)) {
                res->error = g_strdup("interrupted before its retry");
            } else {
                res->status = VMM_BATCH_STATUS_ERROR;
                res->error = g_strdup_printf("sandbox broke (%s) and could not be replaced: %s",
                                             err->message, cerr->message);
            }
            finish_job(s, res, now_s() - busy0);
            if (!stopped(r))
                slot_die(s, cerr);
            return stopped(r);
        } else {
            res->status = VMM_BATCH_STATUS_ERROR;
            g_free(res->error);
            res->error = g_strdup_printf("sandbox broke again: %s", err->message);
            /* The next job gets a new sandbox through reset, or replace. */
        }
        finish_job(s, res, now_s() - busy0);
        set_state(s, SLOT_IDLE);
        return TRUE;
    }
}

static gpointer
slot_thread(gpointer data)
{
    Slot *s = data;
    VmmBatchRunner *r = s->runner;
    g_autoptr(GError) err = NULL;

    if (r->stagger) {
        g_mutex_lock(&r->lock);
        while (r->boots_ended < s->slot.index && !stopped(r))
            g_cond_wait(&r->booted, &r->lock);
        g_mutex_unlock(&r->lock);
    }
    if (!stopped(r) && !slot_create(s, &err)) {
        if (!stopped(r)) {
            /* One more try: a create can fail for passing reasons (memory, a slow boot). */
            g_clear_error(&err);
            if (!slot_replace(s, &err))
                slot_die(s, err);
        }
    }
    g_mutex_lock(&r->lock);
    r->boots_ended++;
    g_cond_broadcast(&r->booted);
    g_mutex_unlock(&r->lock);
    while (s->state != SLOT_DEAD && !stopped(r)) {
        gpointer item = g_async_queue_try_pop(r->queue);
        if (!item)
            break;
        set_state(s, SLOT_IDLE);
        if (!slot_run_job(s, GPOINTER_TO_UINT(item) - 1))
            break;
    }
    slot_destroy(s);
    g_mutex_lock(&r->lock);
    if (s->state != SLOT_DEAD)
        r->alive--;
    s->state = SLOT_FINISHED;
    r->finished++;
    g_mutex_unlock(&r->lock);
    return NULL;
}

void
vmm_batch_runner_start(VmmBatchRunner *r)
{
    r->start_us = g_get_monotonic_time();
    r->alive = r->n_slots;
    for (guint i = 0; i < r->n_slots; i++) {
        g_autofree char *tname = g_strdup_printf("slot-%u", i + 1);
        r->slots[i].thread = g_thread_new(tname, slot_thread, &r->slots[i]);
    }
}

void
vmm_batch_runner_set_stagger(VmmBatchRunner *r, gboolean stagger)
{
    r->stagger = stagger;
}

void
vmm_batch_runner_stop(VmmBatchRunner *r)
{
    g_atomic_int_set(&r->stop, 1);
    g_mutex_lock(&r->lock);
    g_cond_broadcast(&r->booted);
    g_mutex_unlock(&r->lock);
    for (guint i = 0; i < r->n_slots; i++) {
        Slot *s = &r->slots[i];
        SlotState st;
        g_mutex_lock(&r->lock);
        st = s->state;
        g_mutex_unlock(&r->lock);
        if ((st == SLOT_CREATING || st == SLOT_RESETTING || st == SLOT_RUNNING) &&
            r->exec->interrupt)
            r->exec->interrupt(&s->slot, r->data);
    }
}

gboolean
vmm_batch_runner_done(VmmBatchRunner *r)
{
    gboolean done;

    g_mutex_lock(&r->lock);
    done = r->finished == r->n_slots;
    g_mutex_unlock(&r->lock);
    return done;
}

void
vmm_batch_runner_join(VmmBatchRunner *r)
{
    for (guint i = 0; i < r->n_slots; i++)
        if (r->slots[i].thread)
            g_thread_join(g_steal_pointer(&r->slots[i].thread));
}

void
vmm_batch_runner_progress(VmmBatchRunner *r, VmmBatchProgress *p)
{
    memset(p, 0, sizeof(*p));
    g_mutex_lock(&r->lock);
    p->total = r->results->len;
    p->done = r->done;
    p->failed = r->failed;
    p->slots_alive = r->alive;
    for (guint i = 0; i < r->n_slots; i++) {
        p->creating += r->slots[i].state == SLOT_CREATING;
        p->running += r->slots[i].state == SLOT_RUNNING || r->slots[i].state == SLOT_RESETTING;
    }
    p->elapsed_s =
        r->start_us ? (g_get_monotonic_time() - r->start_us) / (gdouble)G_USEC_PER_SEC : 0;
    if (r->done > 0 && r->alive > 0)
        p->eta_s = (r->slot_busy_s / r->done) * (p->total - r->done) / r->alive;
    else
        p->eta_s = p->done == p->total ? 0 : -1;
    g_mutex_unlock(&r->lock);
}

GPtrArray *
vmm_batch_runner_results(VmmBatchRunner *r, VmmBatchRunInfo *info)
{
    g_mutex_lock(&r->lock);
    for (guint i = 0; i < r->results->len; i++) {
        VmmBatchResult *res = g_ptr_array_index(r->results, i);
        if (res->status == VMM_BATCH_STATUS_NOT_RUN && !res->error)
            res->error = stopped(r) ? g_strdup("interrupted before it started")
                                    : g_strdup_printf("no sandbox to run it in (%s)",
                                                      r->last_error ? r->last_error
                                                                    : "none could be created");
    }
    if (info) {
        info->interrupted = stopped(r);
        info->creates = r->creates;
        info->resets = r->resets;
        info->replaced = r->replaced;
        info->create_s_total = r->create_s;
        info->reset_s_total = r->reset_s;
    }
    g_mutex_unlock(&r->lock);
    return r->results;
}

GPtrArray *
vmm_batch_runner_warnings(VmmBatchRunner *r)
{
    return r->warnings;
}
