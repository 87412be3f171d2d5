/*
 * wwdg - window watchdog reset after its early wake-up interrupt. Second
 * boot (RCC_CSR2.WWDGRSTF set): print "reset by WWDG (EWI seen)\n" when the
 * EWI handler ran before the reset (a .noinit flag) and exit 0. First boot:
 * RMVF clears old reset flags; WWDG clock on; HAL_WWDG_Init with prescaler 8
 * (WDGTB = 3), window 0x50, counter 0x7F and EWI: CFR = EWI | WDGTB | W, then
 * CR = WDGA | T. Wait until the counter is inside the window, refresh once as
 * HAL_WWDG_Refresh does (CR = T), print "refreshed in window\n", then stop
 * refreshing: at 0x40 the EWI handler clears EWIF and sets the flag, at 0x3F
 * the WWDG resets the chip. At 12 MHz PCLK one count is 4096 * 8 cycles.
 */
#include "c071_lowpower.h"
#include "semihost.h"

uint32_t ewi_seen __attribute__((section(".noinit")));

void IRQ0_Handler(void)                       /* WWDG early wake-up */
{
    WWDG_SR = 0;                               /* __HAL_WWDG_CLEAR_FLAG: EWIF is rc_w0 */
    ewi_seen = 0xE1u;
}

int main(void)
{
    if (RCC_CSR2 & RCC_CSR2_WWDGRSTF) {
        sh_write0(ewi_seen == 0xE1u ? "reset by WWDG (EWI seen)\n" : "reset by WWDG\n");
        return ewi_seen == 0xE1u ? 0 : 1;
    }
    ewi_seen = 0;
    RCC_CSR2 |= RCC_CSR2_RMVF;
    RCC_APBENR1 |= RCC_APBENR1_WWDGEN;
    (void)RCC_APBENR1;

    WWDG_CFR = WWDG_CFR_EWI | (3u << WWDG_CFR_WDGTB_SHIFT) | 0x50u;
    WWDG_CR = WWDG_CR_WDGA | 0x7Fu;
    NVIC_ISER = 1u << IRQ_WWDG;

    while ((WWDG_CR & WWDG_CR_T_MASK) > 0x50u)
        ;
    WWDG_CR = 0x7Fu;                           /* HAL_WWDG_Refresh */
    sh_write0("refreshed in window\n");
    for (;;)
        __asm__ volatile("wfi");
}
