/*
 * dfu.c - USB DFU with ST's DfuSe extensions (AN3156) on the clean-room device
 * stack of images/usb (built with USB_CLASS_REQUESTS).  Facts: FACTS §7-§8
 * (AN3156 requests, states, commands, execution model; DFU 1.1 state names;
 * DfuSe memory-string grammar of dfu-util's parser).
 *
 * Execution model (AN3156 §5, FACTS §8.2): DNLOAD only stores the block; the
 * first GETSTATUS after it answers dfuDNBUSY with bwPollTimeout, and the command
 * or write is executed once that control transfer has completed (dfu_poll, from
 * the main loop).  The next GETSTATUS answers the result: dfuDNLOAD-IDLE + OK, or
 * dfuERROR + the error status.  A GETSTATUS that arrives while the job has not run
 * yet runs it first (its data stage is NAKed meanwhile), so a host that does not
 * wait (pydfu) still sees busy, then the result.
 *
 * Requests in a state that does not allow them are STALLed and the state becomes
 * dfuERROR with errSTALLEDPKT (DFU 1.1 §6.1.2 / state diagram); in dfuERROR only
 * GETSTATUS, GETSTATE and CLRSTATUS are served.
 */
#include "bl.h"
#include "bl_flash.h"
#include "usb_device.h"

/* DFU requests (FACTS §8.1) */
enum { DFU_DETACH, DFU_DNLOAD, DFU_UPLOAD, DFU_GETSTATUS, DFU_CLRSTATUS, DFU_GETSTATE, DFU_ABORT };
/* bState */
enum { APP_IDLE, APP_DETACH, DFU_IDLE, DFU_DNLOAD_SYNC, DFU_DNBUSY, DFU_DNLOAD_IDLE, DFU_MANIFEST_SYNC,
       DFU_MANIFEST, DFU_MANIFEST_WAIT_RESET, DFU_UPLOAD_IDLE, DFU_ERROR };
/* bStatus */
enum { OK, errTARGET, errFILE, errWRITE, errERASE, errCHECK_ERASED, errPROG, errVERIFY, errADDRESS,
       errNOTDONE, errFIRMWARE, errVENDOR, errUSBR, errPOR, errUNKNOWN, errSTALLEDPKT };
/* DfuSe commands (AN3156 §5.3, FACTS §8.2) */
#define CMD_GET          0x00u
#define CMD_SET_ADDRESS  0x21u
#define CMD_ERASE        0x41u
#define CMD_READ_UNPROT  0x92u

#define TRANSFER_SIZE 1024u       /* wTransferSize (README: fits the 4 KiB of bootloader RAM) */
#define ALTERNATES    3u

/* State visible to tests and to the emulator's trace */
volatile uint8_t dfu_state = DFU_IDLE;
volatile uint8_t dfu_status = OK;
volatile uint32_t dfu_pointer = BL_FLASH_BASE;      /* default address pointer (AN3156) */
volatile uint32_t dfu_alternate;
volatile uint32_t dfu_jobs;                          /* commands / writes executed */

enum job { JOB_NONE, JOB_DNLOAD, JOB_LEAVE };
static volatile uint8_t job;
static uint8_t block[TRANSFER_SIZE];
static uint16_t block_len, block_num;

/* -- descriptors (USB 2.0 §9.6, DFU 1.1 §4.2, AN3156 §4) ------------------------ */
const uint8_t usb_device_descriptor[18] = {
    18, 1, 0x00, 0x02,          /* bcdUSB 2.00 */
    0x00, 0x00, 0x00, 64,       /* class per interface, bMaxPacketSize0 64 */
    0x83, 0x04, 0x11, 0xDF,     /* VID 0x0483, PID 0xDF11 */
    0x00, 0x02, 1, 2, 3, 1      /* bcdDevice 0x0200, strings 1/2/3, one configuration */
};

#define IFACE(alt, str) 9, 4, 0, (alt), 0, 0xFE, 0x01, 0x02, (str)   /* DFU class, DFU mode */
const uint8_t usb_config_descriptor[] = {
    9, 2, 45, 0, 1, 1, 0, 0x80, 50,          /* 1 interface, bus powered, 100 mA */
    IFACE(0, 4), IFACE(1, 5), IFACE(2, 6),
    9, 0x21, 0x0B, 0xFF, 0x00,               /* DFU functional: CanDnload|CanUpload|WillDetach, 255 ms */
    TRANSFER_SIZE & 0xFF, TRANSFER_SIZE >> 8,/* wTransferSize */
    0x1A, 0x01,                              /* bcdDFUVersion 0x011A (DfuSe) */
};
const uint16_t usb_config_descriptor_length = sizeof usb_config_descriptor;

static const uint8_t lang[] = {4, 3, 0x09, 0x04};
static const char *const ascii_strings[] = {
    0, "STMicroelectronics", "DFU in FS Mode", 0,
    "@Internal Flash  /0x08000000/64*02Kg",
    "@Option Bytes  /0x1FFF7800/01*128 e",
    "@OTP Memory /0x1FFF7000/01*0001Ke",
};
static uint8_t string_buf[2 + 2 * 40];

static const uint8_t *utf16(const char *s)
{
    unsigned n = 0;
    while (s[n] && n < 40) {
        string_buf[2 + 2 * n] = (uint8_t)s[n];
        string_buf[3 + 2 * n] = 0;
        n++;
    }
    string_buf[0] = (uint8_t)(2 + 2 * n);
    string_buf[1] = 3;
    return string_buf;
}

const uint8_t *usb_string_descriptor(unsigned index)
{
    static const char hex[] = "0123456789ABCDEF";
    static char serial[25];
    if (index == 0)
        return lang;
    if (index == 3) {                            /* serial number: the 96-bit unique ID in hex */
        for (unsigned i = 0; i < 12; i++) {
            uint8_t b = *(const volatile uint8_t *)(uintptr_t)(BL_UID_BASE + 11u - i);
            serial[2 * i] = hex[b >> 4];
            serial[2 * i + 1] = hex[b & 15u];
        }
        return utf16(serial);
    }
    if (index < sizeof ascii_strings / sizeof ascii_strings[0] && ascii_strings[index])
        return utf16(ascii_strings[index]);
    return 0;
}

/* -- stack hooks ------------------------------------------------------------------- */
int usb_vendor_request(const struct usb_setup *s, uint8_t *data)
{
    (void)s;
    (void)data;
    return -1;
}

void usb_configured(unsigned configuration)
{
    (void)configuration;
    dfu_alternate = 0;
}

void usb_endpoint_event(unsigned ep, int rx)
{
    (void)ep;
    (void)rx;
}

int usb_set_interface(unsigned interface, unsigned alternate)
{
    if (interface != 0 || alternate >= ALTERNATES)
        return -1;
    dfu_alternate = alternate;
    return 0;
}

int usb_get_interface(unsigned interface)
{
    return interface == 0 ? (int)dfu_alternate : -1;
}

/* -- memory checks -------------------------------------------------------------------- */
static int inside(uint32_t addr, uint32_t len, uint32_t base, uint32_t size)
{
    return addr >= base && addr - base <= size && len <= size - (addr - base);
}

static int in_flash(uint32_t a, uint32_t n) { return inside(a, n, BL_FLASH_BASE, BL_FLASH_SIZE); }

/* Readable by UPLOAD: flash, system memory, OTP + engineering + option bytes, SRAM. */
static int readable(uint32_t a, uint32_t n)
{
    return in_flash(a, n) || inside(a, n, BL_SYSMEM_BASE, 0x8000u) || inside(a, n, BL_SRAM_BASE, 0x6000u);
}

static int fail(uint8_t status)
{
    dfu_state = DFU_ERROR;
    dfu_status = status;
    return -1;
}

static int erase_error(int r)  { return fail(r & BL_FLASH_WRPERR ? errVENDOR : errERASE); }
static int program_error(int r){ return fail(r & BL_FLASH_WRPERR ? errVENDOR : errPROG); }

/* -- jobs: what GETSTATUS executes --------------------------------------------------------- */
static uint32_t arg32(void)
{
    return block[1] | (uint32_t)block[2] << 8 | (uint32_t)block[3] << 16 | (uint32_t)block[4] << 24;
}

static int run_command(void)
{
    uint8_t opcode = block[0];
    if (opcode == CMD_SET_ADDRESS && block_len == 5) {
        uint32_t a = arg32();
        if (!readable(a, 0))
            return fail(errTARGET);
        dfu_pointer = a;
        return 0;
    }
    if (opcode == CMD_ERASE && block_len == 1) {                 /* mass erase */
        if (bl_flash_readout_protected())
            return fail(errVENDOR);
        int r = bl_flash_mass_erase();
        return r ? erase_error(r) : 0;
    }
    if (opcode == CMD_ERASE && block_len == 5) {                 /* erase the page holding the address */
        uint32_t a = arg32();
        if (!in_flash(a, 1))
            return fail(errTARGET);
        if (bl_flash_readout_protected())
            return fail(errVENDOR);
        int r = bl_flash_erase_page((a - BL_FLASH_BASE) / BL_PAGE_SIZE);
        return r ? erase_error(r) : 0;
    }
    if (opcode == CMD_READ_UNPROT && block_len == 1) {           /* RDP back to level 0, then reset */
        uint32_t values[BL_OPTION_WORDS];
        for (unsigned i = 0; i < BL_OPTION_WORDS; i++)
            values[i] = REG32(BL_OPTION_BASE + bl_option_offsets[i]);
        values[0] = (values[0] & ~OPTR_RDP_MASK) | OPTR_RDP_LEVEL0;
        int r = bl_flash_program_options(values);
        if (r)
            return fail(errVENDOR);
        bl_flash_launch_options();
    }
    return fail(errTARGET);                                       /* unknown or malformed command */
}

static int run_write(void)
{
    uint32_t a = (uint32_t)(block_num - 2u) * block_len + dfu_pointer;
    if (a == BL_OPTION_BASE && block_num == 2) {                  /* option bytes: the whole block */
        if (block_len < BL_OPTION_BLOCK)
            return fail(errTARGET);
        uint32_t values[BL_OPTION_WORDS];
        for (unsigned i = 0; i < BL_OPTION_WORDS; i++) {
            const uint8_t *p = block + bl_option_offsets[i];
            values[i] = p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
        }
        int r = bl_flash_program_options(values);
        if (r)
            return program_error(r);
        bl_flash_launch_options();                                /* reload + reset: no second reply */
    }
    if (in_flash(a, block_len) || inside(a, block_len, BL_OTP_BASE, BL_OTP_SIZE)) {
        if (in_flash(a, block_len) && bl_flash_readout_protected())
            return fail(errVENDOR);
        int r = bl_flash_program(a, block, block_len);
        if (r)
            return r & BL_FLASH_E_ADDRESS ? fail(errTARGET) : program_error(r);
        for (unsigned i = 0; i < block_len; i++)                   /* read back through the CPU */
            if (*(const volatile uint8_t *)(uintptr_t)(a + i) != block[i])
                return fail(errVERIFY);
        return 0;
    }
    if (inside(a, block_len, BL_HOST_RAM_START, BL_HOST_RAM_END - BL_HOST_RAM_START)) {
        for (unsigned i = 0; i < block_len; i++)
            *(volatile uint8_t *)(uintptr_t)(a + i) = block[i];
        return 0;
    }
    return fail(errTARGET);
}

static void run_job(void)
{
    job = JOB_NONE;
    dfu_jobs++;
    int r = block_num == 0 ? run_command() : run_write();
    if (r == 0) {
        dfu_state = DFU_DNLOAD_IDLE;
        dfu_status = OK;
    }
}

/* bwPollTimeout announced with dfuDNBUSY: how long the job will take (ms). */
static uint32_t poll_timeout(void)
{
    if (block_num == 0)
        return block[0] == CMD_ERASE ? 25u : 1u;           /* 22 ms page / mass erase */
    return 1u + block_len / 64u;                           /* 85 us per double word */
}

void dfu_poll(void)
{
    if (job == JOB_NONE)                     /* the idle main loop only reads (and writes nothing) */
        return;
    BL_USB_IRQ_OFF();                        /* the job and the USB interrupt share the DFU state */
    if (job != JOB_NONE && usb_control_idle()) {
        if (job == JOB_DNLOAD) {
            run_job();
        } else {
            job = JOB_NONE;
            bl_leave(dfu_pointer);
        }
    }
    BL_USB_IRQ_ON();
}

/* -- class requests ----------------------------------------------------------------------- */
static int stall_request(void)
{
    if (dfu_state != DFU_ERROR)
        fail(errSTALLEDPKT);
    return -1;
}

static int get_status(uint8_t *data)
{
    uint32_t timeout = 0;
    if (dfu_state == DFU_DNLOAD_SYNC) {
        dfu_state = DFU_DNBUSY;
        timeout = poll_timeout();
        job = JOB_DNLOAD;
    } else if (dfu_state == DFU_DNBUSY && job == JOB_DNLOAD) {
        run_job();                                /* the host did not wait: finish now */
    } else if (dfu_state == DFU_MANIFEST_SYNC) {
        dfu_state = DFU_MANIFEST;                 /* not manifestation-tolerant: leave after this reply */
        job = JOB_LEAVE;
    }
    data[0] = dfu_status;
    data[1] = (uint8_t)timeout;
    data[2] = (uint8_t)(timeout >> 8);
    data[3] = (uint8_t)(timeout >> 16);
    data[4] = dfu_state;
    data[5] = 0;
    return 6;
}

static int upload(const struct usb_setup *s, uint8_t *data)
{
    if (dfu_state != DFU_IDLE && dfu_state != DFU_UPLOAD_IDLE)
        return stall_request();
    if (s->wValue == 0) {                                       /* Get: supported commands */
        data[0] = CMD_GET;
        data[1] = CMD_SET_ADDRESS;
        data[2] = CMD_ERASE;
        data[3] = CMD_READ_UNPROT;
        dfu_state = DFU_UPLOAD_IDLE;
        return s->wLength < 4 ? s->wLength : 4;
    }
    if (s->wValue == 1 || s->wLength > TRANSFER_SIZE)
        return stall_request();
    uint32_t a = (uint32_t)(s->wValue - 2u) * s->wLength + dfu_pointer;
    if (!readable(a, s->wLength))
        return fail(errTARGET);
    if (in_flash(a, s->wLength) && bl_flash_readout_protected())
        return fail(errVENDOR);                                 /* flash is unreadable under RDP 1 */
    bl_flash_read(a, data, s->wLength);
    dfu_state = DFU_UPLOAD_IDLE;
    return s->wLength;
}

static int dnload(const struct usb_setup *s, const uint8_t *data)
{
    if (dfu_state != DFU_IDLE && dfu_state != DFU_DNLOAD_IDLE)
        return stall_request();
    if (s->wLength == 0) {                                      /* leave DFU */
        dfu_state = DFU_MANIFEST_SYNC;
        return 0;
    }
    if (s->wLength > TRANSFER_SIZE || (s->wValue == 0 && s->wLength > 5) || s->wValue == 1)
        return stall_request();
    for (unsigned i = 0; i < s->wLength; i++)
        block[i] = data[i];
    block_len = s->wLength;
    block_num = s->wValue;
    dfu_state = DFU_DNLOAD_SYNC;
    return 0;
}

int usb_class_request(const struct usb_setup *s, uint8_t *data)
{
    int in = s->bmRequestType & 0x80u;
    if (s->wIndex != 0 || (s->bmRequestType & 0x1Fu) != 1)       /* recipient: interface 0 */
        return -1;
    if (dfu_state == DFU_ERROR && s->bRequest != DFU_GETSTATUS && s->bRequest != DFU_GETSTATE &&
        s->bRequest != DFU_CLRSTATUS)
        return -1;
    switch (s->bRequest) {
    case DFU_DETACH:                        /* meaningless in the ROM (FACTS §8.1) */
        return in ? -1 : 0;
    case DFU_DNLOAD:
        return in ? -1 : dnload(s, data);
    case DFU_UPLOAD:
        return in ? upload(s, data) : -1;
    case DFU_GETSTATUS:
        return in ? get_status(data) : -1;
    case DFU_CLRSTATUS:
        if (in)
            return -1;
        job = JOB_NONE;
        dfu_state = DFU_IDLE;
        dfu_status = OK;
        return 0;
    case DFU_GETSTATE:
        if (!in)
            return -1;
        data[0] = dfu_state;
        return 1;
    case DFU_ABORT:
        if (in)
            return -1;
        if (dfu_state == DFU_DNBUSY || dfu_state == DFU_MANIFEST)
            return stall_request();
        job = JOB_NONE;
        dfu_state = DFU_IDLE;
        dfu_status = OK;
        return 0;
    }
    return stall_request();
}
