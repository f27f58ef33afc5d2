#include "test_common.h"

#include "heap.h"

#include <stdlib.h>

#define COUNT(array) (sizeof(array) / sizeof((array)[0]))

/* Checks the heap property and every node's remembered index. */
static void check_invariants(const coap__heap *heap) {
  for (uint32_t i = 0; i < heap->count; i++) {
    cr_assert_eq(heap->nodes[i]->index, i);
    if (i > 0)
      cr_assert_leq(heap->nodes[(i - 1) / 2]->deadline,
                    heap->nodes[i]->deadline);
  }
}

COAP_TEST(heap, empty_heap_has_no_deadline_and_nothing_due) {
  coap__heap heap;
  coap__heap_init(&heap);
  cr_assert_null(coap__heap_min(&heap));
  cr_assert_eq(coap__heap_next_deadline(&heap), UINT64_MAX);
  cr_assert_null(coap__heap_pop_due(&heap, UINT64_MAX));
  coap__heap_free(&heap);
}

COAP_TEST(heap, node_starts_inactive) {
  coap__heap_node node;
  coap__heap_node_init(&node);
  cr_assert_not(coap__heap_node_active(&node));
}

COAP_TEST(heap, pops_in_deadline_order_only_when_due) {
  coap__heap heap;
  coap__heap_init(&heap);
  coap__heap_node nodes[5];
  const uint64_t deadlines[] = {50, 10, 40, 20, 30};
  for (size_t i = 0; i < COUNT(nodes); i++) {
    coap__heap_node_init(&nodes[i]);
    cr_assert_eq(coap__heap_schedule(&heap, &nodes[i], deadlines[i]), 0);
    cr_assert(coap__heap_node_active(&nodes[i]));
  }
  check_invariants(&heap);
  cr_assert_eq(coap__heap_next_deadline(&heap), 10);
  cr_assert_null(coap__heap_pop_due(&heap, 9));
  cr_assert_eq(coap__heap_pop_due(&heap, 25), &nodes[1]);
  cr_assert_eq(coap__heap_pop_due(&heap, 25), &nodes[3]);
  cr_assert_null(coap__heap_pop_due(&heap, 25));
  cr_assert_not(coap__heap_node_active(&nodes[1]));
  cr_assert_eq(coap__heap_pop_due(&heap, 100), &nodes[4]);
  cr_assert_eq(coap__heap_pop_due(&heap, 100), &nodes[2]);
  cr_assert_eq(coap__heap_pop_due(&heap, 100), &nodes[0]);
  cr_assert_null(coap__heap_pop_due(&heap, 100));
  coap__heap_free(&heap);
}

COAP_TEST(heap, schedule_of_active_node_moves_it_both_ways) {
  coap__heap heap;
  coap__heap_init(&heap);
  coap__heap_node a, b, c;
  coap__heap_node_init(&a);
  coap__heap_node_init(&b);
  coap__heap_node_init(&c);
  coap__heap_schedule(&heap, &a, 10);
  coap__heap_schedule(&heap, &b, 20);
  coap__heap_schedule(&heap, &c, 30);
  cr_assert_eq(coap__heap_schedule(&heap, &c, 5), 0);
  cr_assert_eq(heap.count, 3);
  cr_assert_eq(coap__heap_min(&heap), &c);
  coap__heap_schedule(&heap, &c, 100);
  check_invariants(&heap);
  cr_assert_eq(coap__heap_min(&heap), &a);
  coap__heap_schedule(&heap, &a, 25);
  cr_assert_eq(coap__heap_min(&heap), &b);
  check_invariants(&heap);
  coap__heap_free(&heap);
  cr_assert_not(coap__heap_node_active(&a));
}

COAP_TEST(heap, remove_from_middle_keeps_order_and_ignores_inactive) {
  coap__heap heap;
  coap__heap_init(&heap);
  coap__heap_node nodes[9];
  for (size_t i = 0; i < COUNT(nodes); i++) {
    coap__heap_node_init(&nodes[i]);
    coap__heap_schedule(&heap, &nodes[i], (uint64_t)(i * 7 % 9));
  }
  coap__heap_remove(&heap, &nodes[4]);
  coap__heap_remove(&heap, &nodes[4]);
  coap__heap_remove(&heap, &nodes[0]);
  cr_assert_eq(heap.count, 7);
  check_invariants(&heap);
  uint64_t last = 0;
  coap__heap_node *node;
  while ((node = coap__heap_pop_due(&heap, UINT64_MAX)) != NULL) {
    cr_assert_geq(node->deadline, last);
    cr_assert_neq(node, &nodes[4]);
    cr_assert_neq(node, &nodes[0]);
    last = node->deadline;
  }
  coap__heap_free(&heap);
}

COAP_TEST(heap, random_operations_match_a_sorted_reference) {
  enum { N = 500 };
  coap__heap heap;
  coap__heap_init(&heap);
  static coap__heap_node nodes[N];
  uint64_t state = 0x9e3779b97f4a7c15u;
  for (size_t i = 0; i < N; i++)
    coap__heap_node_init(&nodes[i]);
  for (int round = 0; round < 20000; round++) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    coap__heap_node *node = &nodes[state % N];
    if ((state >> 32) % 3 == 0)
      coap__heap_remove(&heap, node);
    else
      cr_assert_eq(coap__heap_schedule(&heap, node, (state >> 20) % 1000), 0);
  }
  check_invariants(&heap);
  uint32_t active = 0;
  for (size_t i = 0; i < N; i++)
    active += coap__heap_node_active(&nodes[i]);
  cr_assert_eq(heap.count, active);
  uint64_t last = 0;
  coap__heap_node *node;
  while ((node = coap__heap_pop_due(&heap, UINT64_MAX)) != NULL) {
    cr_assert_geq(node->deadline, last);
    last = node->deadline;
  }
  coap__heap_free(&heap);
}

COAP_TEST(heap, growth_failure_reports_enomem_and_leaves_heap_usable) {
  coap__heap heap;
  coap__heap_init(&heap);
  coap__heap_node nodes[40];
  for (size_t i = 0; i < COUNT(nodes); i++)
    coap__heap_node_init(&nodes[i]);
  coap_test_fail_after = 0;
  cr_assert_eq(coap__heap_schedule(&heap, &nodes[0], 1), COAP_ENOMEM);
  cr_assert_not(coap__heap_node_active(&nodes[0]));
  coap_test_fail_after = -1;
  for (size_t i = 0; i < 16; i++)
    cr_assert_eq(coap__heap_schedule(&heap, &nodes[i], 100 - i), 0);
  coap_test_fail_after = 0;
  cr_assert_eq(coap__heap_schedule(&heap, &nodes[16], 1), COAP_ENOMEM);
  /* Moving a node already in the heap never allocates. */
  cr_assert_eq(coap__heap_schedule(&heap, &nodes[3], 0), 0);
  coap_test_fail_after = -1;
  cr_assert_eq(coap__heap_pop_due(&heap, 0), &nodes[3]);
  check_invariants(&heap);
  coap__heap_free(&heap);
}
