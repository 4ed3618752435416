//! How what a printer reports refines the [`Capabilities`] its model row promises: the
//! `/product` flags and a parsed `/detail` (models.md §6).

use crate::http::{MachineInfo, ProductFlags};
use crate::{Capabilities, Model};

impl Capabilities {
    /// Refine with the `/product` flags: LED from `lightCtrlState`, filtration from both fan
    /// flags (always on for the Creator 5 Pro, whose flags misreport), chamber heater only where
    /// the model has one.
    pub fn with_product(mut self, model: Model, flags: &ProductFlags) -> Self {
        if self.http {
            self.led = flags.light.unwrap_or(0) != 0;
        }
        self.filtration = model == Model::Creator5Pro
            || (flags.internal_fan.unwrap_or(0) != 0 && flags.external_fan.unwrap_or(0) != 0);
        self
    }

    /// Refine with a parsed `/detail`.
    pub fn with_detail(mut self, info: &MachineInfo) -> Self {
        self.camera = info.has_camera() || (self.camera && info.model != Model::Adventurer5M);
        self.chamber_sensor = info.has_chamber_sensor();
        self.chamber_heater = match info.model {
            Model::Creator5Pro => true,
            Model::Creator5 => info.has_chamber_sensor(),
            _ => false,
        };
        self.per_nozzle_temps = self.per_nozzle_temps || info.nozzle_temps_reported;
        self.material_station = info.has_matl_station();
        self.lidar = info.has_lidar() || (self.lidar && info.lidar.is_none());
        if info.model == Model::AD5X {
            self.http_motion = info.can_move_axes() || info.move_ctrl.is_none();
        }
        self
    }
}
