// etcd's own server (go.etcd.io/etcd/server/v3's etcdmain, at the version go.mod pins), for what
// needs a newer etcd than Debian's 3.4: the API server serves streaming lists (client-go's
// informers since 1.35, kwok's among them) only on an etcd that answers progress requests
// (3.4.31+, 3.5.13+).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
