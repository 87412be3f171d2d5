/* Prototype: count Thumb instructions per translated block in native code (UC_HOOK_BLOCK). */
#include <stdint.h>
#include <string.h>
#include <unicorn/unicorn.h>

#define SLOTS 65536
static uint64_t keys[SLOTS];
static uint32_t counts[SLOTS];
uint64_t executed;          /* instructions of the blocks entered so far */
uint64_t limit;             /* stop once executed would pass this */

static uint32_t decode(uc_engine *uc, uint64_t address, uint32_t size)
{
    uint8_t code[1024];
    if (size > sizeof code || uc_mem_read(uc, address, code, size) != UC_ERR_OK)
        return size / 2;
    uint32_t n = 0;
    for (uint32_t i = 0; i + 1 < size; ) {
        uint16_t hw = code[i] | code[i + 1] << 8;
        i += ((hw >> 11) >= 0x1D) ? 4 : 2;   /* 0b11101/11110/11111: 32-bit encoding */
        n++;
    }
    return n;
}

void on_block(uc_engine *uc, uint64_t address, uint32_t size, void *user)
{
    uint64_t key = address << 16 | size;
    uint32_t h = (uint32_t)((key * 0x9E3779B97F4A7C15ull) >> 48);
    while (keys[h] && keys[h] != key)
        h = (h + 1) & (SLOTS - 1);
    if (!keys[h]) {
        keys[h] = key;
        counts[h] = decode(uc, address, size);
    }
    executed += counts[h];
    if (executed >= limit)
        uc_emu_stop(uc);
}
