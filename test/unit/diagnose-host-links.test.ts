// The host ends of veth pairs from one rtnetlink dump of the host namespace:
// the same facts sysfs gives (ifindex, iflink, flags, operstate, master's name).
import t from 'tap';
import type { NetInterface, ParsedInterfaces } from '../../src/diagnose/netlink.js';
import { findPeer, hostLinksFromDump } from '../../src/diagnose/sysfs-net.js';

const link = (over: Partial<NetInterface> & Pick<NetInterface, 'index' | 'name'>): NetInterface => ({
  flags: 0x1003,
  up: true,
  lowerUp: true,
  running: true,
  loopback: false,
  operstate: 'up',
  kind: null,
  link: null,
  linkNetnsId: null,
  master: null,
  mtu: 1500,
  addresses: [],
  ...over,
});

t.test('links, iflink, master by name; findPeer finds the host end', async (t) => {
  const parsed: ParsedInterfaces = {
    interfaces: [
      link({ index: 1, name: 'lo', flags: 0x49, loopback: true, operstate: 'unknown' }),
      link({ index: 4, name: 'cni0', kind: 'bridge' }),
      link({ index: 7, name: 'veth1', kind: 'veth', link: 3, linkNetnsId: 0, master: 4 }),
      link({ index: 8, name: 'veth2', kind: 'veth', link: 3, linkNetnsId: 1, flags: 0x1002, up: false, operstate: 'down', master: null }),
      link({ index: 9, name: 'orphan', master: 99 }),
    ],
    interrupted: false,
    problems: [],
    problemCount: 0,
  };
  const { links, details } = hostLinksFromDump(parsed);
  t.same(
    links.map((l) => [l.name, l.ifindex, l.iflink]),
    [
      ['lo', 1, 1],
      ['cni0', 4, 4],
      ['veth1', 7, 3],
      ['veth2', 8, 3],
      ['orphan', 9, 9],
    ],
    'iflink is IFLA_LINK, or the own index without one (as sysfs shows it)',
  );
  t.same(details.get('veth1'), { name: 'veth1', ifindex: 7, iflink: 3, flags: 0x1003, up: true, operstate: 'up', master: 'cni0' });
  t.same(details.get('veth2'), { name: 'veth2', ifindex: 8, iflink: 3, flags: 0x1002, up: false, operstate: 'down', master: null });
  t.equal(details.get('orphan')!.master, null, 'a master index not in the dump names nothing');
  t.equal(findPeer(links, 3, 7)?.name, 'veth1', "the pod's eth0 (index 3, IFLA_LINK 7) pairs with veth1");
  t.equal(findPeer(links, 3, 8)?.name, 'veth2');
  t.equal(findPeer(links, 3, 4), undefined, 'a link whose iflink is itself is no veth end');
});
