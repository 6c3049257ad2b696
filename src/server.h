/* server.h - the gateway: runs until SIGINT/SIGTERM. */
#ifndef VPNGW_SERVER_H
#define VPNGW_SERVER_H

/* Returns the process exit status. */
int server_run(const char *config_path);

#endif
