// epoll for brokerbench's floor probe: Glibc's Swift module does not export <sys/epoll.h>.
#ifndef CEPOLL_H
#define CEPOLL_H
#ifdef __linux__
#include <sys/epoll.h>
#endif
#endif
