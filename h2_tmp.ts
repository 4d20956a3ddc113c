import { Kernel, Machine } from "./mod.ts";
for (const sc of ["", "kho_scratch=64M,256M,256M"]) {
  for (const profile of ["kho-v4", "rfc-2025-12-hugetlb"] as const) {
    const m = new Machine({ ramBytes: 7 * 2 ** 30, nodes: 2 });
    const cmd = `kho=on ${sc} liveupdate=on hugepagesz=1G hugepages=6`;
    const k = Kernel.coldBoot(m, { cmdline: cmd, profile });
    if (!k.kho.enabled) {
      console.log(sc, "KHO disabled", k.log.text().match(/.*scratch.*/g));
      continue;
    }
    const k2 = k.kexec();
    console.log(
      sc,
      profile,
      k.hugetlb.hstate(18)!.nrHugePages,
      k2.hugetlb.hstate(18)!.nrHugePages,
      k2.kho.isKhoBoot,
    );
    console.log(k.boot.scratch.map((a) => [a.addr / 2 ** 20, a.size / 2 ** 20]));
    console.log(
      k2.log.text().split("\n").filter((l) => /HugeTLB/.test(l)).join("\n"),
    );
  }
}
