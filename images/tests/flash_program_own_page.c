/*
 * flash_program_own_page - programming words into the 1 KiB flash page that also holds
 * code the program runs while PG is set, as in-application code that updates a table
 * beside itself does.  RM0490 §4.3.6: with PG set, each aligned pair of word stores programs a
 * double word; a store with PG clear is a programming sequence error (PGSERR).
 *
 * Order: program slots 0-1; call page_code (in the same page) with PG still set;
 * program slots 2-3; program slots 6-7 reading slot 6 back between its two words (it
 * reads erased until the double word is programmed); clear PG and store slots 4-5 at
 * once (PGSERR, nothing programmed).  Prints "programmed, fetched, stray store refused\n"
 * and exits 0; anything else prints what differed and exits 1.
 */
#include "flash_driver.h"
#include "semihost.h"

extern volatile uint32_t page_slots[8];
extern int page_code(int);

/* One 1 KiB page of its own: a function, then eight erased words to program. */
__asm__(
    ".section .text.own_page,\"ax\",%progbits\n"
    ".syntax unified\n"
    ".balign 1024\n"
    ".global page_code\n"
    ".type page_code, %function\n"
    ".thumb_func\n"
    "page_code:\n"
    "    adds r0, r0, #1\n"
    "    bx lr\n"
    ".balign 8\n"
    ".global page_slots\n"
    "page_slots:\n"
    "    .word 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff\n"
    "    .word 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff\n"
    ".balign 1024\n"
    ".text\n");

static const uint32_t expected[8] = {
    0x11111111u, 0x22222222u, 0x33333333u, 0x44444444u, 0xFFFFFFFFu, 0xFFFFFFFFu, 0x77777777u, 0x88888888u,
};

int main(void)
{
    if (flash_unlock() != 0 || flash_wait() != 0) {
        sh_write0("FAIL: unlock\n");
        return 1;
    }
    FLASH_CR |= FLASH_CR_PG;
    page_slots[0] = 0x11111111u;
    page_slots[1] = 0x22222222u;
    uint32_t errors = flash_wait();
    int result = page_code(41);             /* fetched from the page being programmed */
    page_slots[2] = 0x33333333u;
    page_slots[3] = 0x44444444u;
    errors |= flash_wait();
    page_slots[6] = 0x77777777u;
    uint32_t seen = page_slots[6];
    page_slots[7] = 0x88888888u;
    errors |= flash_wait();
    FLASH_CR &= ~FLASH_CR_PG;
    page_slots[4] = 0x55555555u;            /* PG clear: PGSERR */
    page_slots[5] = 0x66666666u;
    uint32_t stray = flash_wait();
    flash_lock();
    if (errors != 0) {
        sh_write0("FAIL: programming error\n");
        return 1;
    }
    if (result != 42) {
        sh_write0("FAIL: code in the programmed page\n");
        return 1;
    }
    if (seen != 0xFFFFFFFFu) {
        sh_write0("FAIL: first word visible before the double word was programmed\n");
        return 1;
    }
    if (stray != FLASH_SR_PGSERR) {
        sh_write0("FAIL: store with PG clear not refused\n");
        return 1;
    }
    for (unsigned i = 0; i < 8; i++) {
        if (page_slots[i] != expected[i]) {
            sh_write0("FAIL: verify\n");
            return 1;
        }
    }
    sh_write0("programmed, fetched, stray store refused\n");
    return 0;
}
