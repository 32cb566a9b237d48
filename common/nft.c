#include "nft.h"

#include <errno.h>
#include <nftables/libnftables.h>

#include <glib.h>

int
ns_nft_run (const char *cmds, NsError *err)
{
	struct nft_ctx *nft = nft_ctx_new (NFT_CTX_DEFAULT);
	int r;

	if (!nft)
		return ns_error (err, ENOMEM, "net: nftables: no context");
	/* Listings and errors are kept, never printed on our stdout. */
	nft_ctx_buffer_output (nft);
	nft_ctx_buffer_error (nft);
	r = nft_run_cmd_from_buffer (nft, cmds);
	if (r != 0 && err) {
		g_autofree char *msg = g_strdup (nft_ctx_get_error_buffer (nft));
		ns_error (err, EIO, "net: nftables: %s", g_strstrip (g_strdelimit (msg, "\n", ' ')));
	}
	nft_ctx_free (nft);
	return r != 0 ? -EIO : 0;
}
