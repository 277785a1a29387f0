import t from 'tap';
import { MAX_LINES, parseCgroup, parseCgroupPath } from '../../src/discovery/cgroup.js';

const CID = 'a'.repeat(40) + '0123456789abcdef01234567';
const CID2 = 'f'.repeat(64);
const UID = '3c1b2a90-5e7d-4f6a-9b8c-0d1e2f3a4b5c';
const UID_ = UID.replace(/-/g, '_');
const V1_CONTROLLERS = ['12:pids', '11:memory', '10:cpu,cpuacct', '4:hugetlb', '1:name=systemd'];
const v1 = (path: string): string => V1_CONTROLLERS.map((c) => `${c}:${path}`).join('\n') + '\n';

t.test('cgroup v2, systemd driver, containerd', async (t) => {
  const info = parseCgroup(`0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice/cri-containerd-${CID}.scope\n`);
  t.same(info, {
    cgroupVersion: 2,
    podUid: UID,
    containerId: CID,
    runtime: 'containerd',
    qosClass: 'Burstable',
    path: `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice/cri-containerd-${CID}.scope`,
  });
});

t.test('systemd driver: QoS classes and runtimes', async (t) => {
  const guaranteed = parseCgroupPath(`/kubepods.slice/kubepods-pod${UID_}.slice/crio-${CID}.scope`);
  t.same(guaranteed, { podUid: UID, qosClass: 'Guaranteed', containerId: CID, runtime: 'cri-o' });
  const besteffort = parseCgroupPath(`/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID_}.slice/docker-${CID}.scope`);
  t.same(besteffort, { podUid: UID, qosClass: 'BestEffort', containerId: CID, runtime: 'docker' });
});

t.test('CRI-O: conmon is in the pod but is not a container; sub-cgroups below the scope', async (t) => {
  const pod = `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice`;
  t.same(parseCgroupPath(`${pod}/crio-conmon-${CID}.scope`), { podUid: UID, qosClass: 'Burstable', runtime: 'cri-o' });
  t.same(parseCgroupPath(`${pod}/crio-${CID}.scope/container`), { podUid: UID, qosClass: 'Burstable', containerId: CID, runtime: 'cri-o' });
});

t.test('cgroup v1, cgroupfs driver', async (t) => {
  const info = parseCgroup(v1(`/kubepods/burstable/pod${UID}/${CID}`));
  t.equal(info.cgroupVersion, 1);
  t.equal(info.podUid, UID);
  t.equal(info.containerId, CID);
  t.equal(info.runtime, undefined, 'a bare ID does not name its runtime');
  t.equal(info.qosClass, 'Burstable');
  t.same(parseCgroupPath(`/kubepods/pod${UID}/${CID}`), { podUid: UID, qosClass: 'Guaranteed', containerId: CID });
  t.same(parseCgroupPath(`/kubepods/besteffort/pod${UID}/crio-${CID}`), {
    podUid: UID,
    qosClass: 'BestEffort',
    containerId: CID,
    runtime: 'cri-o',
  });
});

t.test('static pods: 32-hex UIDs are kept as they are', async (t) => {
  const hash = '5f3e9c2d1b0a49e8a7c6d5e4f3a2b1c0';
  t.equal(parseCgroupPath(`/kubepods/pod${hash}/${CID}`).podUid, hash);
  t.equal(parseCgroupPath(`/kubepods.slice/kubepods-pod${hash}.slice/cri-containerd-${CID}.scope`).podUid, hash);
});

t.test('plain Docker', async (t) => {
  t.same(parseCgroup(v1(`/docker/${CID}`)), { cgroupVersion: 1, containerId: CID, runtime: 'docker', path: `/docker/${CID}` });
  t.same(parseCgroup(`0::/system.slice/docker-${CID}.scope\n`), {
    cgroupVersion: 2,
    containerId: CID,
    runtime: 'docker',
    path: `/system.slice/docker-${CID}.scope`,
  });
  t.same(parseCgroupPath(`/docker/${CID}/docker/${CID2}`), { containerId: CID2, runtime: 'docker' }, 'innermost container');
});

t.test('nested: a kind node container above the pod', async (t) => {
  t.same(parseCgroupPath(`/docker/${CID2}/kubepods/besteffort/pod${UID}/${CID}`), {
    podUid: UID,
    qosClass: 'BestEffort',
    containerId: CID,
  });
});

t.test('podman', async (t) => {
  t.same(parseCgroupPath(`/machine.slice/libpod-${CID}.scope`), { containerId: CID, runtime: 'podman' });
});

t.test('host processes have neither pod nor container', async (t) => {
  t.same(parseCgroup('0::/init.scope\n'), { cgroupVersion: 2, path: '/init.scope' });
  t.same(parseCgroup('0::/system.slice/kubelet.service\n'), { cgroupVersion: 2, path: '/system.slice/kubelet.service' });
  t.same(parseCgroupPath('/user.slice/user-0.slice/session-3.scope'), {});
  // A bare 64-hex directory outside /docker/ and kubepods is not taken for a container.
  t.same(parseCgroupPath(`/system.slice/${CID}`), {});
  // A pod-like segment not under kubepods or a QoS directory is not a pod.
  t.same(parseCgroupPath(`/elsewhere/pod${UID}/${CID}`), {});
});

t.test('hybrid mode (v1 controllers plus the 0:: line) counts as v1; the informative line wins', async (t) => {
  const content = `0::/\n11:memory:/kubepods/burstable/pod${UID}/${CID}\n1:name=systemd:/system.slice/containerd.service\n`;
  const info = parseCgroup(content);
  t.equal(info.cgroupVersion, 1);
  t.equal(info.containerId, CID);
  t.equal(info.path, `/kubepods/burstable/pod${UID}/${CID}`);
});

t.test('malformed input is ignored, never thrown', async (t) => {
  t.same(parseCgroup(''), { cgroupVersion: 2 });
  t.same(parseCgroup('garbage\nx:y:/z\n0::relative\n'), { cgroupVersion: 2 });
  t.equal(parseCgroup('0::/a:b/c\n').path, '/a:b/c', 'colons in the path are kept');
  t.same(parseCgroupPath(`/kubepods/burstable/pod${UID}/not-an-id`), { podUid: UID, qosClass: 'Burstable' });
  t.same(parseCgroupPath(`/docker/${CID.toUpperCase()}`), {}, 'IDs are lower-case hex');
  t.same(parseCgroupPath(`/docker/${CID.slice(1)}`), {}, 'IDs are 64 hex digits');
});

t.test('bounded (issue 10): the kept path is capped, lines past MAX_LINES and paths past PATH_MAX are not read', async (t) => {
  const deep = `/kubepods/burstable/pod${UID}/${CID}/${'nested/'.repeat(100)}\x1b[2J`;
  const info = parseCgroup(`0::${deep}\n`);
  t.equal(info.podUid, UID, 'the pod is still found');
  t.equal(info.path, `${deep.slice(0, 256)}…(+${deep.length - 256} chars)`);
  t.same(parseCgroup(`${'x\n'.repeat(MAX_LINES)}0::/docker/${CID}\n`), { cgroupVersion: 2 }, `only the first ${MAX_LINES} lines are read`);
  t.same(parseCgroup(`0::/docker/${CID}/${'a'.repeat(5000)}\n`), { cgroupVersion: 2 }, 'a path longer than PATH_MAX is no kernel path');
  t.same(parseCgroup(undefined as unknown as string), { cgroupVersion: 2 }, 'not even a string: no throw');
});
