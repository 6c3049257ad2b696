/* client.h - the client: runs until SIGINT/SIGTERM. */
#ifndef VPNGW_CLIENT_H
#define VPNGW_CLIENT_H

/* Returns the process exit status. */
int client_run(const char *config_path);

#endif
