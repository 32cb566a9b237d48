/* Connections to the supervisor: the listening socket supervisor.sock,
 * the clients (nsfsd, one at a time as a rule, a restarted one while the
 * old one's socket lingers), replies and events. */
#pragma once

#include <stdbool.h>

#include <glib.h>

#include "error.h"

/* A client stays allocated while a request of its own is pending; its
 * descriptor is closed (and replies to it dropped) once it hangs up or
 * is cut off. */
typedef struct SupClient SupClient;

/* How long a send to a client may block: events and replies are a few
 * dozen bytes and nsfsd reads them as they come, so a client whose socket
 * buffer stays full this long does not read at all, and is cut off
 * rather than left to hold the supervisor (and every other client). */
#define SUP_CLIENT_SEND_TIMEOUT_MS 1000
/* More connections than this are refused (closed at once). */
#define SUP_MAX_CLIENTS 8

/* Listen on DIRFD/supervisor.sock and serve FIRST_CLIENT (-1: none). */
int sup_clients_init (int dirfd, int first_client, NsError *err);
void sup_clients_shutdown (void);

SupClient *sup_client_ref (SupClient *c);
void sup_client_unref (SupClient *c);
/* Send FIELDS after TAG (NULL or "" for none); a client that cannot take
 * them is cut off.  0 or -errno. */
int sup_client_send (SupClient *c, const char *tag, char *const *fields);
/* From now on C hears events. */
void sup_client_greet (SupClient *c);
