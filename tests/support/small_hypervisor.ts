/**
 * The small hypervisor the scenario tests share: 2 memfds of 2 × 2 MiB folios, 2000 IOMMU
 * pages, 2 vmalloc buffers, 2 DMA blocks on a 4 GiB machine.
 *
 * @module
 */

/** Hypervisor scenario parameters of a machine small enough to run in every test. */
export const SMALL_HYPERVISOR = {
  ramBytes: "4G",
  headroomBytes: "4G",
  nodes: 1,
  guestBytes: "8M",
  guestFolio: "2M",
  vms: 2,
  poolBytes: "256M",
  iommuPages: 2000,
  vmallocBuffers: 2,
  dmaBlocks: 2,
};
