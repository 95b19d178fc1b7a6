/*
 * candidates: a FastCGI responder for the candidates API. spawn-fcgi (or
 * systemd through it) hands it a listening socket as fd 0; the web server
 * in front connects to that socket. The process keeps that socket and
 * serves from a worker process it forks and replaces when it dies
 * (supervise.h).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "name.h"
#include "server.h"
#include "supervise.h"

#define ID_MAX 256

/* The cloud's instance id when the store knows its cloud, else the host. */
static void
instance_id(const struct store_ops *ops, char *id, size_t idlen)
{
	if (ops->instance_id != NULL && ops->instance_id(id, idlen) == 0)
		return;
	if (gethostname(id, idlen) != 0)
		snprintf(id, idlen, "unknown");
	id[idlen - 1] = '\0';
	/* The kernel takes any bytes; /gtg?details must stay UTF-8 JSON. */
	if (utf8_scrub(id, strlen(id)) > 0)
		log_line("candidates: instance id is not UTF-8, sent as %s", id);
}

int
main(void)
{
	struct config	 cfg;
	struct server	*server;
	siginfo_t	 info;
	sigset_t	 stop;
	char		 err[512], id[ID_MAX];
	int		 sig, status;

	/*
	 * The worker process and its threads inherit this mask, so SIGTERM
	 * and SIGINT only ever reach sigwait below (or the parent's) and
	 * never interrupt a request in flight. A client that hangs up must
	 * not kill the process with SIGPIPE.
	 */
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	if (pthread_sigmask(SIG_BLOCK, &stop, NULL) != 0 ||
	    signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
		log_line("candidates: cannot set up signals");
		return 1;
	}

	if (config_read(&cfg, err, sizeof(err)) == -1 ||
	    cfg.store->setup(&cfg, err, sizeof(err)) == -1) {
		log_line("candidates: %s", err);
		return 1;
	}
	instance_id(cfg.store, id, sizeof(id));
	/*
	 * The above runs once, in the process that keeps the socket; what
	 * follows runs in each worker it forks, from a single thread, so
	 * nothing of the workers' (threads, store handles, libfcgi) exists
	 * in the parent.
	 */
	if (supervise(&status) == SUPERVISE_EXIT) {
		cfg.store->teardown();
		return status;
	}
	if (server_start(&server, &cfg, id, err, sizeof(err)) == -1) {
		log_line("candidates: %s", err);
		cfg.store->teardown();
		return 1;
	}
	log_line("candidates: serving on store %s with %ld threads",
	    cfg.store->name, cfg.threads);

	while ((sig = sigwaitinfo(&stop, &info)) == -1 && errno == EINTR)
		continue;
	if (sig == -1) {
		sig = SIGTERM;
		info.si_pid = 0;
	}
	/*
	 * From the app, the service is stopping: the listening socket goes
	 * too. From anyone else (a kill of this pid, or of the whole group
	 * as Ctrl-C and systemd send), this worker only stops listening: if
	 * the app was not told too, it starts another on the same socket,
	 * and connections wait in its backlog meanwhile.
	 */
	log_line("candidates: %s%s, finishing requests in flight",
	    sig == SIGINT ? "SIGINT" : "SIGTERM", info.si_pid == getppid() ?
	    "" : " from outside the app");
	server_drain(server, info.si_pid == getppid());
	server_wait(server);
	cfg.store->teardown();
	log_line("candidates: stopped");
	return 0;
}
