/*
 * an3155.c - USART bootloader protocol of the reference system bootloader
 * (clean-room; protocol facts from AN3155, interface selection from AN2606,
 * USART registers from RM0490 §24, see FACTS §2.4 and peripherals/usart.py).
 *
 * Protocol summary (AN3155):
 *  - the host sends 0x7F; the bootloader measures it (auto baud rate), answers
 *    ACK 0x79, and from then on every command is a byte followed by its
 *    complement; a wrong complement or an unknown command gets NACK 0x1F;
 *  - addresses are 4 bytes, MSB first, followed by their XOR checksum;
 *  - Get 0x00, Get Version 0x01, Get ID 0x02 (0x0493 for the C071), Read Memory
 *    0x11, Go 0x21, Write Memory 0x31, Extended Erase 0x44 (0xFFFF = mass erase),
 *    Write Protect 0x63, Write Unprotect 0x73, Readout Protect 0x82, Readout
 *    Unprotect 0x92; the last four change option bytes and reset the device;
 *  - while readout protection is active, Read Memory, Go, Write Memory and
 *    Extended Erase are refused with NACK.
 *
 * ROM-style choices (images/bootloader/README.md table): the USARTs are assumed to
 * be at their reset values (registers written whole, never read-modify-written),
 * the bootloader waits for the host without a time limit, it polls (no USART
 * interrupt), and it refreshes the IWDG while waiting only when the hardware
 * watchdog option is selected.
 *
 * Memory areas accepted: main flash 0x08000000-0x0801FFFF, system memory, OTP,
 * engineering bytes and option bytes 0x1FFF0000-0x1FFF7FFF (read only; a write to
 * 0x1FFF7800 reprograms the option bytes), SRAM 0x20000000-0x20005FFF for reads and,
 * for writes, the SRAM outside the bootloader's own RAM (BL_HOST_RAM_START/END, bl.h).
 */
#include "bl.h"
#include "bl_flash.h"
#include "an3155.h"

/* USART registers (RM0490 §24.8) */
#define USART1_BASE 0x40013800u
#define USART2_BASE 0x40004400u
#define U_CR1(b)  REG32((b) + 0x00)
#define U_CR2(b)  REG32((b) + 0x04)
#define U_BRR(b)  REG32((b) + 0x0C)
#define U_RQR(b)  REG32((b) + 0x18)
#define U_ISR(b)  REG32((b) + 0x1C)
#define U_ICR(b)  REG32((b) + 0x20)
#define U_RDR(b)  REG32((b) + 0x24)
#define U_TDR(b)  REG32((b) + 0x28)

#define CR1_UE    (1u << 0)
#define CR1_RE    (1u << 2)
#define CR1_TE    (1u << 3)
#define CR1_PCE   (1u << 10)
#define CR1_M0    (1u << 12)          /* 9-bit word = 8 data bits + parity */
#define CR2_ABREN (1u << 20)
#define CR2_ABRMOD_7F (2u << 21)      /* auto baud rate on the 0x7F frame */
#define RQR_ABRRQ (1u << 0)
#define RQR_RXFRQ (1u << 3)
#define ISR_PE    (1u << 0)
#define ISR_FE    (1u << 1)
#define ISR_NE    (1u << 2)
#define ISR_ORE   (1u << 3)
#define ISR_RXNE  (1u << 5)
#define ISR_TC    (1u << 6)
#define ISR_TXE   (1u << 7)
#define ISR_ABRE  (1u << 14)
#define ISR_ABRF  (1u << 15)
#define ICR_ERRORS (ISR_PE | ISR_FE | ISR_NE | ISR_ORE)

/* RCC and GPIOA (RM0490 §6.4, §8.4) */
#define RCC_IOPENR        REG32(0x40021034u)
#define RCC_IOPENR_GPIOAEN (1u << 0)
#define RCC_APBENR1_USART2EN (1u << 17)
#define RCC_APBENR2_USART1EN (1u << 14)
#define GPIOA_MODER       REG32(0x50000000u)
#define GPIOA_AFRL        REG32(0x50000020u)
#define GPIOA_AFRH        REG32(0x50000024u)
#define IWDG_KR_REG       REG32(0x40003000u)

/* Commands (AN3155 §2) */
enum {
    CMD_GET = 0x00, CMD_GET_VERSION = 0x01, CMD_GET_ID = 0x02, CMD_READ = 0x11, CMD_GO = 0x21,
    CMD_WRITE = 0x31, CMD_EXT_ERASE = 0x44, CMD_WP = 0x63, CMD_WUP = 0x73, CMD_RDP = 0x82, CMD_RDUP = 0x92,
};
static const uint8_t commands[] = {
    CMD_GET, CMD_GET_VERSION, CMD_GET_ID, CMD_READ, CMD_GO, CMD_WRITE, CMD_EXT_ERASE,
    CMD_WP, CMD_WUP, CMD_RDP, CMD_RDUP,
};

#define PID 0x0493u                     /* DEV_ID of the C071 (FACTS §2.4, DBG_IDCODE) */
#define OPT_OFF_OPTR 0
#define OPT_OFF_WRP1AR 3
#define OPT_OFF_WRP1BR 4
#define WRP_NONE 0x0000003Fu            /* STRT 63 > END 0: no protection (RM0490 §4.5.2) */
#define RDP_LEVEL1 0xBBu

static uint32_t port;                   /* the USART the host was found on, 0 until then */
static uint8_t buffer[256];

/* -- the line ------------------------------------------------------------------------ */
static int hardware_watchdog(void)
{
    return !(FLASH_OPTR_REG & OPTR_IWDG_SW);
}

static uint8_t rx(void)
{
    uint32_t isr;
    if (hardware_watchdog()) {
        while (!((isr = U_ISR(port)) & ISR_RXNE))
            IWDG_KR_REG = 0xAAAAu;                  /* refresh (AN2606: BL keeps a HW watchdog fed) */
    } else {
        while (!((isr = U_ISR(port)) & ISR_RXNE)) {
        }
    }
    if (isr & ICR_ERRORS)
        U_ICR(port) = ICR_ERRORS;
    return (uint8_t)U_RDR(port);
}

static void tx(uint8_t byte)
{
    while (!(U_ISR(port) & ISR_TXE)) {
    }
    U_TDR(port) = byte;
}

static void tx_done(void)
{
    while (!(U_ISR(port) & ISR_TC)) {
    }
}

static void ack(void)  { tx(AN3155_ACK); }
static void nack(void) { tx(AN3155_NACK); }

/* Address (4 bytes MSB first) + XOR checksum; 0 if the checksum is wrong. */
static int rx_address(uint32_t *address)
{
    uint8_t b[4], sum = 0;
    for (unsigned i = 0; i < 4; i++) {
        b[i] = rx();
        sum ^= b[i];
    }
    *address = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
    return rx() == sum;
}

/* -- memory areas -------------------------------------------------------------------- */
static int within(uint32_t a, uint32_t len, uint32_t base, uint32_t end)
{
    return a >= base && a < end && len <= end - a;
}

static int in_flash(uint32_t a, uint32_t len) { return within(a, len, BL_FLASH_BASE, BL_FLASH_BASE + BL_FLASH_SIZE); }
static int in_otp(uint32_t a, uint32_t len)   { return within(a, len, BL_OTP_BASE, BL_OTP_BASE + BL_OTP_SIZE); }

static int readable(uint32_t a, uint32_t len)
{
    return in_flash(a, len) || within(a, len, BL_SYSMEM_BASE, BL_OPTION_BASE + 0x800u)
           || within(a, len, BL_SRAM_BASE, BL_SRAM_END);
}

/* -- option bytes -------------------------------------------------------------------- */
static void current_options(uint32_t values[BL_OPTION_WORDS])
{
    for (unsigned i = 0; i < BL_OPTION_WORDS; i++)
        values[i] = REG32(BL_OPTION_BASE + bl_option_offsets[i]);
}

/* Program the option words, answer ACK (or NACK), then reload them: the device
   resets (AN3155: option-byte commands end with a system reset). */
static void apply_options(const uint32_t values[BL_OPTION_WORDS])
{
    if (bl_flash_program_options(values)) {
        nack();
        return;
    }
    ack();
    tx_done();
    bl_flash_launch_options();
}

/* -- commands --------------------------------------------------------------------------- */
static void cmd_get(void)
{
    ack();
    tx(sizeof commands);                 /* N = number of bytes that follow - 1 */
    tx(AN3155_VERSION);
    for (unsigned i = 0; i < sizeof commands; i++)
        tx(commands[i]);
    ack();
}

static void cmd_get_version(void)
{
    ack();
    tx(AN3155_VERSION);
    tx(0x00);                            /* option bytes 1 and 2: compatibility, always 0 */
    tx(0x00);
    ack();
}

static void cmd_get_id(void)
{
    ack();
    tx(1);                               /* N = 1: two bytes follow */
    tx((uint8_t)(PID >> 8));
    tx((uint8_t)PID);
    ack();
}

static void cmd_read(void)
{
    uint32_t address;
    if (bl_flash_readout_protected()) {
        nack();
        return;
    }
    ack();
    if (!rx_address(&address) || !readable(address, 1)) {
        nack();
        return;
    }
    ack();
    uint8_t n = rx();
    if ((uint8_t)(n ^ rx()) != 0xFFu || !readable(address, (uint32_t)n + 1u)) {
        nack();
        return;
    }
    ack();
    bl_flash_read(address, buffer, (uint32_t)n + 1u);
    for (unsigned i = 0; i <= n; i++)
        tx(buffer[i]);
}

static void cmd_go(void)
{
    uint32_t address;
    if (bl_flash_readout_protected()) {
        nack();
        return;
    }
    ack();
    if (!rx_address(&address) || !(in_flash(address, 8) || within(address, 8, BL_SRAM_BASE, BL_SRAM_END))) {
        nack();
        return;
    }
    ack();
    tx_done();
    bl_leave(address);
}

static void cmd_write(void)
{
    uint32_t address;
    if (bl_flash_readout_protected()) {
        nack();
        return;
    }
    ack();
    if (!rx_address(&address)) {
        nack();
        return;
    }
    int to_ram = within(address, 1, BL_HOST_RAM_START, BL_HOST_RAM_END);
    int to_options = address == BL_OPTION_BASE;
    if (!(to_ram || to_options || ((in_flash(address, 1) || in_otp(address, 1)) && !(address & 7u)))) {
        nack();
        return;
    }
    ack();
    uint8_t n = rx(), sum = n;
    for (unsigned i = 0; i <= n; i++) {
        buffer[i] = rx();
        sum ^= buffer[i];
    }
    uint32_t len = (uint32_t)n + 1u;
    if (rx() != sum) {
        nack();
        return;
    }
    if (to_ram) {
        if (!within(address, len, BL_HOST_RAM_START, BL_HOST_RAM_END)) {
            nack();
            return;
        }
        for (uint32_t i = 0; i < len; i++)
            ((volatile uint8_t *)(uintptr_t)address)[i] = buffer[i];
        ack();
    } else if (to_options) {
        /* the image of the option area: value word at each option offset (RM0490 Table 18) */
        uint32_t values[BL_OPTION_WORDS];
        current_options(values);
        for (unsigned i = 0; i < BL_OPTION_WORDS; i++) {
            unsigned off = bl_option_offsets[i];
            if (off + 4u <= len)
                values[i] = (uint32_t)buffer[off] | (uint32_t)buffer[off + 1] << 8 |
                            (uint32_t)buffer[off + 2] << 16 | (uint32_t)buffer[off + 3] << 24;
        }
        apply_options(values);
    } else if (bl_flash_program(address, buffer, len)) {
        nack();
    } else {
        ack();
    }
}

static void cmd_extended_erase(void)
{
    if (bl_flash_readout_protected()) {
        nack();
        return;
    }
    ack();
    uint8_t hi = rx(), lo = rx();
    uint16_t n = (uint16_t)(hi << 8 | lo);
    if (n >= 0xFFF0u) {                      /* special erase: 0xFFFF mass, 0xFFFE/0xFFFD per bank */
        uint8_t sum = rx();
        if (sum != (uint8_t)(hi ^ lo) || n != 0xFFFFu) {
            nack();                          /* single bank: the bank erases are refused */
            return;
        }
        if (bl_flash_mass_erase())
            nack();
        else
            ack();
        return;
    }
    /* N + 1 page numbers, 2 bytes each, then the XOR of everything after the command */
    uint8_t sum = hi ^ lo;
    int bad = n >= BL_PAGES;
    static uint8_t pages[BL_PAGES];
    for (unsigned i = 0; i <= n; i++) {
        uint8_t ph = rx(), pl = rx();
        sum ^= ph ^ pl;
        uint16_t page = (uint16_t)(ph << 8 | pl);
        if (page >= BL_PAGES)
            bad = 1;
        else if (i < BL_PAGES)
            pages[i] = (uint8_t)page;
    }
    if (rx() != sum || bad) {
        nack();
        return;
    }
    for (unsigned i = 0; i <= n; i++) {
        if (bl_flash_erase_page(pages[i])) {
            nack();
            return;
        }
    }
    ack();
}

/* Write Protect: sectors = 2 KiB pages; the C071 has two WRP areas (WRP1A, WRP1B), so
   the pages must form at most two contiguous ranges (RM0490 §4.5.2). */
static void cmd_write_protect(void)
{
    if (bl_flash_readout_protected()) {
        nack();
        return;
    }
    ack();
    uint8_t n = rx(), sum = n;
    static uint8_t map[BL_PAGES];
    for (unsigned p = 0; p < BL_PAGES; p++)
        ((volatile uint8_t *)map)[p] = 0;        /* volatile: no memset call (-nostdlib) */
    int bad = 0;
    for (unsigned i = 0; i <= n; i++) {
        uint8_t page = rx();
        sum ^= page;
        if (page >= BL_PAGES)
            bad = 1;
        else
            map[page] = 1;
    }
    if (rx() != sum || bad) {
        nack();
        return;
    }
    uint32_t area[2] = {WRP_NONE, WRP_NONE};
    unsigned areas = 0;
    for (unsigned p = 0; p < BL_PAGES; p++) {
        if (!map[p] || (p && map[p - 1]))
            continue;
        unsigned end = p;
        while (end + 1 < BL_PAGES && map[end + 1])
            end++;
        if (areas == 2) {
            nack();
            return;
        }
        area[areas++] = p | end << 16;            /* STRT[5:0], END[21:16] */
    }
    uint32_t values[BL_OPTION_WORDS];
    current_options(values);
    values[OPT_OFF_WRP1AR] = area[0];
    values[OPT_OFF_WRP1BR] = area[1];
    apply_options(values);
}

static void cmd_write_unprotect(void)
{
    ack();
    uint32_t values[BL_OPTION_WORDS];
    current_options(values);
    values[OPT_OFF_WRP1AR] = WRP_NONE;
    values[OPT_OFF_WRP1BR] = WRP_NONE;
    apply_options(values);
}

static void cmd_readout(uint8_t level)
{
    ack();
    uint32_t values[BL_OPTION_WORDS];
    current_options(values);
    values[OPT_OFF_OPTR] = (values[OPT_OFF_OPTR] & ~OPTR_RDP_MASK) | level;
    /* RDP 1 -> 0 mass-erases the flash in hardware (RM0490 §4.5.1); nothing to do here */
    apply_options(values);
}

static void serve(void) __attribute__((noreturn));
static void serve(void)
{
    for (;;) {
        uint8_t cmd = rx();
        if ((uint8_t)(cmd ^ rx()) != 0xFFu) {
            nack();
            continue;
        }
        switch (cmd) {
        case CMD_GET:         cmd_get(); break;
        case CMD_GET_VERSION: cmd_get_version(); break;
        case CMD_GET_ID:      cmd_get_id(); break;
        case CMD_READ:        cmd_read(); break;
        case CMD_GO:          cmd_go(); break;
        case CMD_WRITE:       cmd_write(); break;
        case CMD_EXT_ERASE:   cmd_extended_erase(); break;
        case CMD_WP:          cmd_write_protect(); break;
        case CMD_WUP:         cmd_write_unprotect(); break;
        case CMD_RDP:         cmd_readout(RDP_LEVEL1); break;
        case CMD_RDUP:        cmd_readout(OPTR_RDP_LEVEL0); break;
        default:              nack(); break;
        }
    }
}

/* -- interface detection ----------------------------------------------------------------- */
static void usart_listen(uint32_t base)
{
    U_CR2(base) = CR2_ABREN | CR2_ABRMOD_7F;     /* written while UE = 0 (RM0490 CR2) */
    U_CR1(base) = CR1_M0 | CR1_PCE | CR1_RE | CR1_UE;
}

void an3155_init(void)
{
    RCC_IOPENR |= RCC_IOPENR_GPIOAEN;
    RCC_APBENR1 |= RCC_APBENR1_USART2EN;
    RCC_APBENR2 |= RCC_APBENR2_USART1EN;
    /* PA2/PA3 (USART2) and PA9/PA10 (USART1): alternate function 1 (RM0490 §8.4) */
    GPIOA_AFRL = (GPIOA_AFRL & ~(0xFFu << 8)) | (0x11u << 8);
    GPIOA_AFRH = (GPIOA_AFRH & ~(0xFFu << 4)) | (0x11u << 4);
    GPIOA_MODER = (GPIOA_MODER & ~(0xFu << 4 | 0xFu << 18)) | (0xAu << 4) | (0xAu << 18);
    port = 0;
    usart_listen(USART1_BASE);
    usart_listen(USART2_BASE);
}

/* Has the USART at base measured a 0x7F?  A failed measurement (ABRE: not a 0x7F,
   or a baud rate out of range) is thrown away and the measurement re-armed. */
static int detected(uint32_t base)
{
    uint32_t isr = U_ISR(base);
    if (!(isr & ISR_ABRF))
        return 0;
    if (isr & ISR_ABRE) {
        U_RQR(base) = RQR_ABRRQ | RQR_RXFRQ;
        U_ICR(base) = ICR_ERRORS;
        return 0;
    }
    return 1;
}

void an3155_poll(void)
{
    uint32_t found = detected(USART1_BASE) ? USART1_BASE : detected(USART2_BASE) ? USART2_BASE : 0;
    if (!found)
        return;
    port = found;
    U_CR1(found == USART1_BASE ? USART2_BASE : USART1_BASE) = 0;   /* the other interface is let go */
    U_RQR(port) = RQR_RXFRQ;                      /* drop the 0x7F itself */
    U_ICR(port) = ICR_ERRORS;
    U_CR1(port) = CR1_M0 | CR1_PCE | CR1_RE | CR1_TE | CR1_UE;
    ack();
    serve();
}
