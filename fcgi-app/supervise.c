#include "supervise.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "deadline.h"
#include "log.h"

long
supervise_delay(long last_ms, long lived_ms)
{
	if (lived_ms >= SUPERVISE_STABLE_MS)
		return 0;
	if (last_ms < SUPERVISE_DELAY_MIN_MS)
		return SUPERVISE_DELAY_MIN_MS;
	if (last_ms > SUPERVISE_DELAY_MAX_MS / 2)
		return SUPERVISE_DELAY_MAX_MS;
	return last_ms * 2;
}

enum supervise_next
supervise_verdict(int wstatus, int *exit_status)
{
	if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) != 0) {
		*exit_status = WEXITSTATUS(wstatus);
		return SUPERVISE_STOP;
	}
	*exit_status = 1;
	return SUPERVISE_RESTART;
}

/*
 * The next of set's signals (all blocked), waiting at most ms when ms >=
 * 0: the signal, 0 when the time is up, -1 on error.
 */
static int
next_signal(const sigset_t *set, long ms)
{
	struct timespec	 ts;
	long		 end = mono_now_ms() + ms, left;
	int		 sig;

	for (;;) {
		if (ms < 0)
			sig = sigwaitinfo(set, NULL);
		else {
			if ((left = end - mono_now_ms()) < 0)
				left = 0;
			ts.tv_sec = left / 1000;
			ts.tv_nsec = (left % 1000) * 1000000;
			sig = sigtimedwait(set, NULL, &ts);
		}
		if (sig > 0)
			return sig;
		if (errno == EAGAIN)
			return 0;
		if (errno != EINTR)
			return -1;
	}
}

/*
 * Forks a worker. In the worker returns 0 with the signal mask restored;
 * in the parent the worker's pid, or -1 with errno set.
 */
static pid_t
start_worker(const sigset_t *mask, pid_t parent)
{
	pid_t	 pid;

	if ((pid = fork()) != 0)
		return pid;
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1) {
		log_line("candidates: prctl(PR_SET_PDEATHSIG): %s",
		    strerror(errno));
		_exit(1);
	}
	/* A parent that died before prctl took effect sends nothing. */
	if (getppid() != parent)
		_exit(1);
	if (sigprocmask(SIG_SETMASK, mask, NULL) == -1) {
		log_line("candidates: sigprocmask: %s", strerror(errno));
		_exit(1);
	}
	return 0;
}

/*
 * Once a worker serves, the parent only waits, yet it still maps the pages
 * it read to start and nobody else maps: a cloud store's libraries' symbol
 * and relocation tables, read once by the dynamic loader, and the set-up's
 * code; over 3 MB with libcurl's thirty-odd libraries. MADV_PAGEOUT gives
 * back the pages of a range that only this process maps, writing dirty
 * ones to swap (or keeping them), so nothing is lost and what is touched
 * again faults back in. Before Linux 5.4 it fails and changes nothing.
 */
static void
shed_startup_pages(void)
{
	char		 line[4096];
	unsigned long	 lo, hi;
	int		 at_start = 1;
	FILE		*f;

	if ((f = fopen("/proc/self/maps", "re")) == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		/* A line longer than the buffer: only its start is parsed. */
		if (at_start && sscanf(line, "%lx-%lx", &lo, &hi) == 2 &&
		    hi > lo && strstr(line, "[vsyscall]") == NULL)
			(void)madvise((void *)lo, hi - lo, MADV_PAGEOUT);
		at_start = strchr(line, '\n') != NULL;
	}
	(void)fclose(f);
}

/*
 * Passes sig on to the worker, if there is one, and waits for it to
 * drain: its status is ours. Between workers nothing is in flight.
 */
static enum supervise_role
stop(pid_t worker, int sig, int *status)
{
	pid_t	 r;
	int	 wstatus;

	*status = 0;
	if (worker == -1)
		return SUPERVISE_EXIT;
	if (kill(worker, sig) == -1) {
		log_line("candidates: cannot signal the worker: %s",
		    strerror(errno));
		*status = 1;
		return SUPERVISE_EXIT;
	}
	while ((r = waitpid(worker, &wstatus, 0)) == -1 && errno == EINTR)
		continue;
	if (r == -1) {
		log_line("candidates: waitpid: %s", strerror(errno));
		*status = 1;
		return SUPERVISE_EXIT;
	}
	/* Asked to stop, the worker's own exit status is ours. */
	if (WIFEXITED(wstatus)) {
		if ((*status = WEXITSTATUS(wstatus)) != 0)
			log_line("candidates: the worker exited with status "
			    "%d", *status);
	} else {
		*status = 1;
		log_line("candidates: the worker died of signal %d (%s) while "
		    "draining", WTERMSIG(wstatus), strsignal(WTERMSIG(wstatus)));
	}
	return SUPERVISE_EXIT;
}

enum supervise_role
supervise(int *status)
{
	sigset_t	 set, mask;
	pid_t		 parent = getpid(), worker = -1, r;
	long		 delay = 0, born = 0, restart_at = 0, left = 0, lived;
	int		 sig, wstatus, shed = 0;

	*status = 1;
	/*
	 * SIGCHLD joins the stop signals: all three are taken by
	 * sigtimedwait here, one at a time, never by a handler.
	 */
	if (sigemptyset(&set) == -1 || sigaddset(&set, SIGTERM) == -1 ||
	    sigaddset(&set, SIGINT) == -1 || sigaddset(&set, SIGCHLD) == -1 ||
	    sigprocmask(SIG_BLOCK, &set, &mask) == -1) {
		log_line("candidates: cannot block signals: %s",
		    strerror(errno));
		return SUPERVISE_EXIT;
	}
	for (;;) {
		if (worker == -1 && (left = restart_at - mono_now_ms()) <= 0) {
			if ((worker = start_worker(&mask, parent)) == 0)
				return SUPERVISE_WORKER;
			if (worker == -1) {
				log_line("candidates: fork: %s",
				    strerror(errno));
				return SUPERVISE_EXIT;
			}
			born = mono_now_ms();
			continue;
		}
		/*
		 * Between workers only a stop, or the end of the wait. The
		 * first worker is given a second to start, so that the pages
		 * it maps are its too, before the parent sheds its own.
		 */
		if ((sig = next_signal(&set, worker == -1 ? left :
		    shed ? -1 : SUPERVISE_SHED_AFTER_MS)) == 0) {
			if (worker != -1 && !shed) {
				shed_startup_pages();
				shed = 1;
			}
			continue;
		}
		if (sig == -1) {
			log_line("candidates: sigwait: %s", strerror(errno));
			return SUPERVISE_EXIT;
		}
		if (sig != SIGCHLD)
			return stop(worker, sig, status);
		/* SIGCHLD merges, and may come for a worker already reaped. */
		if (worker == -1 ||
		    (r = waitpid(worker, &wstatus, WNOHANG)) == 0)
			continue;
		if (r == -1) {
			log_line("candidates: waitpid: %s", strerror(errno));
			return SUPERVISE_EXIT;
		}
		lived = mono_now_ms() - born;
		if (supervise_verdict(wstatus, status) == SUPERVISE_STOP) {
			if (*status != 0)
				log_line("candidates: the worker exited with "
				    "status %d", *status);
			return SUPERVISE_EXIT;
		}
		delay = supervise_delay(delay, lived);
		restart_at = mono_now_ms() + delay;
		if (WIFEXITED(wstatus))
			log_line("candidates: the worker (pid %ld) exited 0 "
			    "unasked after %ld ms; starting another in %ld ms",
			    (long)worker, lived, delay);
		else
			log_line("candidates: the worker (pid %ld) died of "
			    "signal %d (%s) after %ld ms; starting another in "
			    "%ld ms", (long)worker, WTERMSIG(wstatus),
			    strsignal(WTERMSIG(wstatus)), lived, delay);
		worker = -1;
	}
}
