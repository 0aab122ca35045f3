#!/bin/sh
# The benign workload of the rule corpus (rules/testdata/benign/corpus.jsonl),
# run as root by TestRecordBenign while `vigil trace --json` watches the host.
# Every default rule must stay silent on what it does. $W is a scratch
# directory; the ids of the containers it starts go to $W/ids (one a line) so
# the recorder keeps their events. Needs dockerd, containerd (namespace
# vigiltest with docker.io/vigiltest/busybox:1.0), dpkg-deb, gcc, logrotate.
set -eu
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
img=vigiltest/busybox:1.0

# Docker: shell entrypoints, one with a configured health check that runs
# (runc exec of /bin/sh -c ...) before the container is removed.
for i in 1 2 3 4 5 6; do
  docker run --rm --cidfile "$W/cid$i" --network none $img sh -c 'echo start >> /tmp/app.log; : > /tmp/app.log; id >/dev/null' >/dev/null
  cat "$W/cid$i" >> "$W/ids"; echo >> "$W/ids"
done
id=$(docker run -d --network none --health-cmd 'test -e /tmp/ready' --health-interval 1s --health-start-period 1s $img \
  sh -c 'touch /tmp/ready; exec sleep 30')
echo "$id" >> "$W/ids"
n=0
until [ "$(docker inspect -f '{{.State.Health.Status}}' "$id")" = healthy ] || [ $n -ge 40 ]; do sleep 0.25; n=$((n+1)); done
docker rm -f "$id" >/dev/null
# A build inside a container: logs written with > in the build directory.
docker run --rm --cidfile "$W/cidb" --network none $img sh -c 'mkdir -p /src && cd /src && echo "all:" > Makefile && echo building > build.log && : > build.log && echo done > test.log' >/dev/null
cat "$W/cidb" >> "$W/ids"; echo >> "$W/ids"

# containerd (ctr): shell entrypoints.
for i in 1 2 3; do
  cid=vigil-benign-$$-$i
  echo "$cid" >> "$W/ids"
  ctr -n vigiltest run --rm docker.io/vigiltest/busybox:1.0 "$cid" sh -c 'cd /tmp && echo x > out.log && : > out.log && ls / >/dev/null' >/dev/null
done

# A package install and removal (dpkg writes below /usr/bin, runs its scripts).
mkdir -p "$W/pkg/DEBIAN" "$W/pkg/usr/bin"
printf 'Package: vigil-benign-hello\nVersion: 1.0\nArchitecture: all\nMaintainer: Vigil <vigil@example.com>\nDescription: benign corpus package\n' > "$W/pkg/DEBIAN/control"
printf '#!/bin/sh\necho hello\n' > "$W/pkg/usr/bin/vigil-benign-hello"
chmod 755 "$W/pkg/usr/bin/vigil-benign-hello"
dpkg-deb --build "$W/pkg" "$W/hello.deb" >/dev/null
dpkg -i "$W/hello.deb" >/dev/null
vigil-benign-hello >/dev/null
dpkg -r vigil-benign-hello >/dev/null

# A language build with its logs truncated and rewritten in the build directory.
mkdir -p "$W/build" && cd "$W/build"
printf 'int main(void){return 0;}\n' > main.c
printf 'all:\n\tgcc -o hello main.c > build.log 2>&1\n\t./hello\n' > Makefile
: > build.log
make >/dev/null
: > build.log
echo ok > test.log
: > test.log

# Log rotation: logrotate with copytruncate on a log under /var/log.
echo line >> /var/log/vigil-benign.log
printf '/var/log/vigil-benign.log {\n  copytruncate\n  rotate 1\n  missingok\n}\n' > "$W/logrotate.conf"
logrotate -f -s "$W/logrotate.state" "$W/logrotate.conf"
rm -f /var/log/vigil-benign.log /var/log/vigil-benign.log.1
