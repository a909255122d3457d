#!/usr/bin/env bash
# Runs Apache ZooKeeper 3.8 (Debian's jars) standalone in the foreground, configured as the
# black-box tests configure it (tests/common/mod.rs), for trying a script by hand:
#
#   server/tests/blackbox/apache.sh 2199 &           # port; data in a fresh temp directory
#   /usr/bin/python3 server/tests/blackbox/kazoo_basic.py --hosts 127.0.0.1:2199 --verbose
#   kill %1
#
# The same settings in a zoo.cfg start zk-server: `zk-server --config <dir>/zoo.cfg` (this
# script prints the directory). Needs: zookeeper, openjdk-17-jre-headless (Debian packages).
set -euo pipefail

port="${1:?usage: apache.sh PORT}"
dir="$(mktemp -d "${TMPDIR:-/tmp}/zk-apache-XXXXXX")"
mkdir -p "$dir/data"
cat >"$dir/zoo.cfg" <<EOF
tickTime=200
dataDir=$dir/data
clientPort=$port
clientPortAddress=127.0.0.1
4lw.commands.whitelist=*
minSessionTimeout=400
maxSessionTimeout=10000
extendedTypesEnabled=true
DigestAuthenticationProvider.superDigest=super:AaO9nBOv+DJFv92R9NUZrTXjqLc=
znode.container.checkIntervalMs=200
admin.enableServer=false
EOF
echo "config and data in $dir (log on stderr)" >&2
# ZooKeeper 3.8 reads the container check interval from the system property without the
# "zookeeper." prefix that zoo.cfg keys get, hence the -D flag.
exec /usr/bin/java -Xms32m -Xmx192m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:-UsePerfData \
    -Dzookeeper.admin.enableServer=false -Dznode.container.checkIntervalMs=200 \
    -cp /usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar \
    org.apache.zookeeper.server.ZooKeeperServerMain "$dir/zoo.cfg"
