#include "duty.h"

#include "deadline.h"

#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

static int
watch(int epfd, int fd, uint32_t events)
{
	struct epoll_event	 ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = events;
	ev.data.fd = fd;
	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

int
duty_init(struct duty *d, long grace_us)
{
	memset(d, 0, sizeof(*d));
	d->grace_us = grace_us;
	d->epfd = d->timerfd = d->closefd = -1;
	if (pthread_mutex_init(&d->lock, NULL) != 0)
		return -1;
	if (grace_us < 0)
		return 0;
	/*
	 * One epoll set, not a condition variable, so that the timer needs
	 * no thread of its own. epoll wakes its waiters one at a time; the
	 * timer is edge-triggered, else each woken worker would wake the
	 * next until one had read it. The drain's eventfd is level-triggered
	 * and never read, to wake them all.
	 */
	if ((d->epfd = epoll_create1(EPOLL_CLOEXEC)) == -1 ||
	    (d->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC |
	    TFD_NONBLOCK)) == -1 ||
	    (d->closefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) == -1 ||
	    watch(d->epfd, d->timerfd, EPOLLIN | EPOLLET) == -1 ||
	    watch(d->epfd, d->closefd, EPOLLIN) == -1) {
		duty_destroy(d);
		return -1;
	}
	return 0;
}

void
duty_destroy(struct duty *d)
{
	if (d->closefd != -1)
		close(d->closefd);
	if (d->timerfd != -1)
		close(d->timerfd);
	if (d->epfd != -1)
		close(d->epfd);
	d->epfd = d->timerfd = d->closefd = -1;
	pthread_mutex_destroy(&d->lock);
}

static long
mono_us_since(const struct timespec *t)
{
	struct timespec	 now = mono_now();

	return (long)(now.tv_sec - t->tv_sec) * 1000000 +
	    (now.tv_nsec - t->tv_nsec) / 1000;
}

/* Under the lock. */
static void
set_timer(struct duty *d, long us)
{
	struct itimerspec	 its;

	memset(&its, 0, sizeof(its));
	its.it_value.tv_sec = us / 1000000;
	its.it_value.tv_nsec = us % 1000000 * 1000;
	/* A zero it_value disarms; it must fire. */
	if (us <= 0)
		its.it_value.tv_nsec = 1;
	/* Cannot fail with a valid descriptor and these values. */
	(void)timerfd_settime(d->timerfd, 0, &its, NULL);
	d->armed = 1;
}

/*
 * Under the lock, for a parked worker: whether to come on duty, because
 * nobody is and the last to leave has been away for the grace period
 * (else the timer is set for the rest of it), or the parking is over.
 */
static int
called(struct duty *d)
{
	long	 away_us;

	if (d->closed)
		return 1;
	if (d->on > 0)
		return 0;
	away_us = mono_us_since(&d->left);
	if (away_us >= d->grace_us)
		return 1;
	if (!d->armed)
		set_timer(d, d->grace_us - away_us);
	return 0;
}

void
duty_take(struct duty *d)
{
	struct epoll_event	 ev;
	uint64_t		 expirations;

	if (d->grace_us < 0)
		return;
	pthread_mutex_lock(&d->lock);
	if (d->closed || d->on == 0) {
		d->on++;
		pthread_mutex_unlock(&d->lock);
		return;
	}
	d->parked++;
	for (;;) {
		pthread_mutex_unlock(&d->lock);
		if (epoll_wait(d->epfd, &ev, 1, -1) == -1)
			ev.data.fd = -1;	/* EINTR: look again */
		pthread_mutex_lock(&d->lock);
		if (ev.data.fd == d->timerfd && read(d->timerfd, &expirations,
		    sizeof(expirations)) == (ssize_t)sizeof(expirations))
			d->armed = 0;
		if (called(d))
			break;
	}
	d->on++;
	d->parked--;
	pthread_mutex_unlock(&d->lock);
}

void
duty_leave(struct duty *d)
{
	if (d->grace_us < 0)
		return;
	pthread_mutex_lock(&d->lock);
	/*
	 * The timer is set only if it is not already: a call that ends
	 * within the grace period costs no system call, and a parked worker
	 * woken too early sets it again for the rest (called()).
	 */
	if (--d->on == 0 && d->parked > 0 && !d->closed) {
		d->left = mono_now();
		if (!d->armed)
			set_timer(d, d->grace_us);
	}
	pthread_mutex_unlock(&d->lock);
}

void
duty_close(struct duty *d)
{
	uint64_t	 one = 1;

	if (d->grace_us < 0)
		return;
	pthread_mutex_lock(&d->lock);
	d->closed = 1;
	pthread_mutex_unlock(&d->lock);
	/* Level-triggered and never read: wakes every parked worker. */
	if (write(d->closefd, &one, sizeof(one)) != (ssize_t)sizeof(one))
		return;
}
